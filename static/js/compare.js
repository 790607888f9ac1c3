// Before/after on the detail page (issue 32): the range input (keyboard and touch work
// natively) sets how much of "after" shows over "before", as a clip from the left.
(function () {
  "use strict";
  document.querySelectorAll("[data-role=compare]").forEach(function (section) {
    var range = section.querySelector("[data-role=compare-range]");
    var after = section.querySelector("[data-role=compare-after]");
    if (!range || !after) return;
    function show() {
      var value = Number(range.value);
      after.style.clipPath = "inset(0 " + (100 - value) + "% 0 0)";
      after.parentElement.style.setProperty("--split", value + "%");
      // The percent sign goes in with the number: interpolate() knows no "%%".
      range.setAttribute(
        "aria-valuetext",
        interpolate(gettext("%(percent)s after"), { percent: value + "%" }, true)
      );
    }
    range.addEventListener("input", show);
    show();
  });
})();
