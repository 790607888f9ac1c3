// The prompt page: a preset brings its shape and describes itself; "Custom size" shows the
// width and height fields. Everything still works without this script.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector(".generate-form");
    var dataNode = document.getElementById("preset-data");
    if (!form) { return; }
    var presets = dataNode ? JSON.parse(dataNode.textContent) : {};
    var presetSelect = form.querySelector('select[name="preset"]');
    var description = form.querySelector('[data-role="preset-description"]');
    var customSize = form.querySelector('[data-role="custom-size"]');

    function checkedAspect() {
      var checked = form.querySelector('input[name="aspect"]:checked');
      return checked ? checked.value : "";
    }
    function syncCustomSize() {
      if (customSize) { customSize.hidden = checkedAspect() !== "custom"; }
    }
    function applyPreset() {
      var preset = presets[presetSelect.value];
      if (description) { description.textContent = preset ? preset.description : ""; }
      if (!preset) { return; }
      var radio = form.querySelector('input[name="aspect"][value="' + preset.aspect + '"]');
      if (radio) { radio.checked = true; }
      syncCustomSize();
    }

    form.querySelectorAll('input[name="aspect"]').forEach(function (radio) {
      radio.addEventListener("change", syncCustomSize);
    });
    if (presetSelect) {
      presetSelect.addEventListener("change", applyPreset);
      var current = presets[presetSelect.value];
      if (description && current) { description.textContent = current.description; }
    }
    syncCustomSize();
  });
})();
