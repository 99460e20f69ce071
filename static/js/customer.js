// Draws the customer page's purchases-by-month chart from the JSON the page embeds.
(function () {
  const source = document.getElementById("purchase-chart-data");
  const canvas = document.getElementById("purchases-chart");
  if (!source || !canvas || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const text = JSON.parse(document.getElementById("purchase-chart-labels").textContent);
  const lang = document.documentElement.lang || "en";
  const labels = data.labels.map((label) => {
    const [year, month] = label.split("-");
    return new Date(Number(year), Number(month) - 1, 1).toLocaleDateString(lang, { month: "short", year: "2-digit" });
  });
  const money = new Intl.NumberFormat(lang, { maximumFractionDigits: 0 });
  new Chart(canvas, {
    data: {
      labels,
      datasets: [
        { type: "bar", label: text.total, data: data.total.map(Number), backgroundColor: "rgba(13,110,253,.55)", yAxisID: "y" },
        { type: "line", label: text.count, data: data.count, borderColor: "#198754", backgroundColor: "#198754", yAxisID: "y1", tension: 0.25, pointRadius: 2 },
      ],
    },
    options: {
      responsive: true, maintainAspectRatio: false,
      plugins: { tooltip: { callbacks: { label: (item) => item.dataset.label + ": " + (item.dataset.yAxisID === "y" ? money.format(item.raw) : item.raw) } } },
      scales: {
        y: { beginAtZero: true, ticks: { callback: (v) => money.format(v) } },
        y1: { position: "right", beginAtZero: true, ticks: { precision: 0 }, grid: { drawOnChartArea: false } },
      },
    },
  });
})();
