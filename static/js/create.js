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
    // leaves it out). Each task has its own words field, so nothing moves between tabs.
    function checkedTask() {
      var checked = form.querySelector('input[name="task"]:checked');
      return checked ? checked.value : "text";
    }
    function syncTier() {
      // A tier the chosen task cannot use is hidden; one that can is chosen instead.
      var checked = form.querySelector('input[name="tier"]:checked');
      var option = checked && checked.closest(".tier-option");
      if (!option || !option.hidden) { return; }
      var visible = [].filter.call(form.querySelectorAll(".tier-option"), function (o) { return !o.hidden; });
      if (visible.length) { visible[0].querySelector('input[name="tier"]').checked = true; }
    }
    function syncTask() {
      var task = checkedTask();
      form.querySelectorAll("[data-tasks]").forEach(function (part) {
        part.hidden = part.getAttribute("data-tasks").split(" ").indexOf(task) < 0;
      });
      if (task === "text") { syncCustomSize(); }
      syncTier();
    }
    form.querySelectorAll('input[name="task"]').forEach(function (radio) {
      radio.addEventListener("change", syncTask);
      // Enter on a task tab chooses it; it does not send the form (a tab is no send button).
      radio.addEventListener("keydown", function (event) {
        if (event.key !== "Enter") { return; }
        event.preventDefault();
        if (!radio.checked) { radio.checked = true; syncTask(); }
      });
    });
    syncTask();

    // Our own photo picker: a button-like label over the file input, the chosen or kept
    // photo shown at once (a blob: URL of the file), with its name and a way to remove it.
    function pickerParts(field) {
      return {
        input: field.querySelector('input[type="file"]'),
        preview: field.querySelector('[data-role="preview"]'),
        kept: field.querySelector('[data-role="kept"]'),
        keptId: field.querySelector('[data-role="kept-id"]'),
        chosen: field.querySelector('[data-role="chosen"]'),
        choose: field.querySelector('[data-role="choose"]'),
        remove: field.querySelector('[data-role="remove"]')
      };
    }
    function dropPreview(parts) {
      if (parts.preview.dataset.objectUrl) {
        URL.revokeObjectURL(parts.preview.dataset.objectUrl);
        delete parts.preview.dataset.objectUrl;
      }
    }
    form.querySelectorAll(".photo-field").forEach(function (field) {
      var parts = pickerParts(field);
      if (!parts.input || !parts.preview) { return; }
      parts.input.addEventListener("change", function () {
        var file = parts.input.files && parts.input.files[0];
        if (!file) { return; }
        dropPreview(parts);
        parts.preview.dataset.objectUrl = URL.createObjectURL(file);
        parts.preview.src = parts.preview.dataset.objectUrl;
        parts.preview.hidden = false;
        if (parts.kept) { parts.kept.hidden = true; }
        if (parts.chosen) { parts.chosen.textContent = file.name; parts.chosen.hidden = false; }
        if (parts.choose) { parts.choose.textContent = parts.choose.getAttribute("data-replace"); }
        if (parts.remove) { parts.remove.hidden = false; }
      });
    });

    // "Remove photo": the picker is emptied here, and the page's memory of the photo is
    // dropped on the server; without this script the button sends its own small form.
    function emptyPicker(field) {
      var parts = pickerParts(field);
      dropPreview(parts);
      parts.input.value = "";
      if (parts.keptId) { parts.keptId.value = ""; }
      parts.preview.removeAttribute("src");
      parts.preview.hidden = true;
      if (parts.kept) { parts.kept.hidden = true; }
      if (parts.chosen) { parts.chosen.hidden = true; parts.chosen.textContent = ""; }
      if (parts.choose) { parts.choose.textContent = parts.choose.getAttribute("data-choose"); }
      if (parts.remove) { parts.remove.hidden = true; }
      parts.input.focus();
    }
    document.querySelectorAll('form[data-role="forget"]').forEach(function (forget) {
      forget.addEventListener("submit", function (event) {
        var field = document.getElementById("photo-" + forget.querySelector('input[name="field"]').value);
        if (!field || !window.fetch) { return; }
        event.preventDefault();
        fetch(forget.action, { method: "POST", body: new FormData(forget), credentials: "same-origin", redirect: "manual" })
          .then(function (response) {
            if (!response.ok && response.type !== "opaqueredirect") { throw new Error(String(response.status)); }
            emptyPicker(field);
          })
          .catch(function () { forget.submit(); });
      });
    });

    // Sent back with mistakes: the summary of them is read out and brought into view.
    var problems = form.querySelector('[data-role="problems"]');
    if (problems) { problems.focus(); }

    // After a submission the page opens at the new work (#latest): below the sticky header,
    // whatever its height.
    var header = document.querySelector(".topbar");
    var target = location.hash && document.getElementById(location.hash.slice(1));
    if (header && window.getComputedStyle(header).position === "sticky") {
      document.documentElement.style.scrollPaddingTop = header.offsetHeight + 8 + "px";
    }
    if (target && !problems) { target.scrollIntoView(); }
  });
})();
