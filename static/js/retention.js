// Behaviour shared by every page (loaded by base.html; no inline scripts under our CSP).
(function () {
  // Forms with errors come back as 400 with the form to show; htmx does not swap errors by default.
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status === 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  // The close button of a customer-page action removes the action's card (a link without JS).
  document.body.addEventListener("click", function (event) {
    const button = event.target.closest("[data-close-action]");
    if (!button) return;
    event.preventDefault();
    const card = button.closest(".customer-action");
    if (card) card.remove();
  });
})();
