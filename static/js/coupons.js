/* Coupon wallet: a "Copy" button copies its coupon code (Clipboard API) and says so. A file, not
   an inline script: the Content-Security-Policy allows scripts from 'self' only. */
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(button.dataset.copy).then(function () {
      button.textContent = button.dataset.copied;
    });
  });
})();
