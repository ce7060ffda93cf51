/* Invite page: copy the link (Clipboard API, else select the text for the member to copy; a click
   on the link selects it) and share it through the Web Share API where the browser has one. No
   dependencies, no CDN, no inline handler (the Content-Security-Policy allows none). */
(function () {
  "use strict";

  function selectText(input) {
    input.focus();
    input.select();
    if (input.setSelectionRange) input.setSelectionRange(0, input.value.length);
  }

  function say(status, text) {
    if (status) status.textContent = text;
  }

  function copy(button) {
    var input = document.getElementById(button.getAttribute("data-copy-target"));
    var status = document.getElementById(button.getAttribute("data-status"));
    if (!input) return;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () {
        say(status, button.getAttribute("data-copied"));
      }, function () {
        selectText(input);
        say(status, button.getAttribute("data-select"));
      });
      return;
    }
    selectText(input);
    var copied = false;
    try { copied = document.execCommand && document.execCommand("copy"); } catch (e) { copied = false; }
    say(status, button.getAttribute(copied ? "data-copied" : "data-select"));
  }

  function share(button) {
    var data = {title: button.getAttribute("data-title"), text: button.getAttribute("data-text"),
                url: button.getAttribute("data-url")};
    navigator.share(data).catch(function () { /* dismissed by the member: nothing to do */ });
  }

  function init() {
    var selectable = document.querySelectorAll("[data-select-on-click]");
    for (var k = 0; k < selectable.length; k++) {
      selectable[k].addEventListener("click", function (event) { event.currentTarget.select(); });
    }
    var buttons = document.querySelectorAll("[data-copy-target]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener("click", function (event) { copy(event.currentTarget); });
    }
    var shares = document.querySelectorAll("[data-share]");
    for (var j = 0; j < shares.length; j++) {
      if (typeof navigator.share !== "function") continue;  // stays hidden without the API
      shares[j].hidden = false;
      shares[j].addEventListener("click", function (event) { share(event.currentTarget); });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
