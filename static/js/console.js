/* The staff console's small behaviours, in a file because the Content-Security-Policy allows no
   inline script or event handler: a form with data-confirm="question" asks before it submits. */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
  }, true);
})();
