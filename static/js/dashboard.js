// Draws the dashboard's charts from the JSON the page embeds (no data fetched at run time).
(function () {
  const source = document.getElementById("dashboard-chart-data");
  if (!source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const lang = document.documentElement.lang || "en";
  const labels = data.labels.map((label) => {
    const [year, month] = label.split("-");
    return new Date(Number(year), Number(month) - 1, 1).toLocaleDateString(lang, { month: "short", year: "2-digit" });
  });
  const text = JSON.parse(document.getElementById("dashboard-chart-labels").textContent);
  new Chart(document.getElementById("trend-chart"), {
    type: "line",
    data: {
      labels,
      datasets: [{ label: text.crr, data: data.crr, borderColor: "#0d6efd", backgroundColor: "rgba(13,110,253,.15)", fill: true, tension: 0.25, spanGaps: true }],
    },
    options: { responsive: true, maintainAspectRatio: false, scales: { y: { suggestedMin: 0, suggestedMax: 100, ticks: { callback: (v) => v + "%" } } } },
  });
  new Chart(document.getElementById("activity-chart"), {
    data: {
      labels,
      datasets: [
        { type: "line", label: text.active, data: data.active, borderColor: "#198754", yAxisID: "y", tension: 0.25 },
        { type: "bar", label: text.new, data: data.new, backgroundColor: "rgba(13,110,253,.5)", yAxisID: "y1" },
        { type: "bar", label: text.dormant, data: data.dormant, backgroundColor: "rgba(220,53,69,.6)", yAxisID: "y1" },
        { type: "bar", label: text.at_risk, data: data.at_risk, backgroundColor: "rgba(255,193,7,.7)", yAxisID: "y1" },
      ],
    },
    options: {
      responsive: true, maintainAspectRatio: false,
      scales: { y: { position: "left", beginAtZero: true }, y1: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } } },
    },
  });
})();

// The feedback chart arrives with its htmx panel; draw it when the panel is swapped in.
document.body.addEventListener("htmx:afterSwap", function () {
  const source = document.getElementById("feedback-chart-data");
  const canvas = document.getElementById("feedback-chart");
  if (!source || !canvas || canvas.dataset.drawn || typeof Chart === "undefined") return;
  canvas.dataset.drawn = "1";
  const data = JSON.parse(source.textContent);
  new Chart(canvas, {
    data: {
      labels: data.labels,
      datasets: [
        { type: "line", label: "NPS", data: data.nps, borderColor: "#6f42c1", yAxisID: "y1", tension: 0.25 },
        { type: "bar", label: "0-10", data: data.average, backgroundColor: "rgba(25,135,84,.5)", yAxisID: "y" },
      ],
    },
    options: { responsive: true, maintainAspectRatio: false,
      scales: { y: { min: 0, max: 10 }, y1: { position: "right", min: -100, max: 100, grid: { drawOnChartArea: false } } } },
  });
});
