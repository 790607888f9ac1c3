// Sign-up: the browser's time zone (Intl) goes with the form, so that the new account shows
// times in it from its first page. Without this script the server picks one.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var zone = "";
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (error) {
      return;
    }
    document.querySelectorAll("input[data-browser-time-zone]").forEach(function (input) {
      if (!input.value) { input.value = zone; }
    });
  });
})();
