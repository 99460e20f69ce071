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
    // On its own page (no JavaScript swap happened) the button is a link back to the customer.
    if (!button || !button.closest("#action-area")) return;
    event.preventDefault();
    button.closest(".customer-action").remove();
  });
})();
