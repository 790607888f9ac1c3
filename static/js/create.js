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

    // The task tabs: what each task does not take is hidden (and still sent: the server
    // ignores it); the prompt's label says what the words are for.
    var promptField = form.querySelector('[data-role="prompt-field"]');
    function checkedTask() {
      var checked = form.querySelector('input[name="task"]:checked');
      return checked ? checked.value : "text";
    }
    function syncTask() {
      var task = checkedTask();
      form.querySelectorAll("[data-tasks]").forEach(function (part) {
        part.hidden = part.getAttribute("data-tasks").split(" ").indexOf(task) < 0;
      });
      if (task === "text") { syncCustomSize(); }
      if (promptField) {
        var label = promptField.querySelector("label");
        var text = promptField.getAttribute("data-label-" + task);
        if (label && text) {
          // Django's label suffix (":") stays as the page rendered it.
          var suffix = /[:：]\s*$/.test(label.textContent) ? ":" : "";
          label.textContent = text + suffix;
        }
        var box = promptField.querySelector("textarea");
        var placeholder = promptField.getAttribute("data-placeholder-" + task);
        if (box && placeholder !== null) { box.placeholder = placeholder; }
      }
    }
    form.querySelectorAll('input[name="task"]').forEach(function (radio) {
      radio.addEventListener("change", syncTask);
    });
    syncTask();

    // A chosen photo shows at once, before anything is sent (a blob: URL of the file).
    form.querySelectorAll('input[type="file"]').forEach(function (input) {
      input.addEventListener("change", function () {
        var field = input.closest(".photo-field");
        var preview = field && field.querySelector('[data-role="preview"]');
        var kept = field && field.querySelector('[data-role="kept"]');
        if (!preview) { return; }
        if (preview.dataset.objectUrl) { URL.revokeObjectURL(preview.dataset.objectUrl); }
        if (input.files && input.files[0]) {
          preview.dataset.objectUrl = URL.createObjectURL(input.files[0]);
          preview.src = preview.dataset.objectUrl;
          preview.hidden = false;
          if (kept) { kept.hidden = true; }
        }
      });
    });
  });
})();
