// Live status: every element with data-status-url polls its JSON while the generation is
// queued or running, and swaps in the image (or the error) when it ends. No reload needed.
(function () {
  "use strict";
  var ACTIVE = { queued: true, running: true };
  var INTERVAL_MS = 1500;

  function setText(root, role, text) {
    var el = root.querySelector('[data-role="' + role + '"]');
    if (el) { el.textContent = text || ""; el.hidden = !text; }
    return el;
  }

  function about(seconds) {
    return seconds === null || seconds === undefined ? "" : " · about " + Math.max(1, Math.round(seconds)) + " s";
  }

  function progressText(data) {
    if (data.status === "queued" && data.position) { return "Position " + data.position + " in the queue" + about(data.estimated_seconds); }
    if (data.status === "running" && data.elapsed_seconds !== null) {
      var left = data.estimated_seconds === null ? "" : " · about " + Math.max(1, Math.round(data.estimated_seconds)) + " s left";
      return "Running for " + Math.round(data.elapsed_seconds) + " s" + left;
    }
    return "";
  }

  function showImage(root, data) {
    var media = root.querySelector('[data-role="media"]');
    if (!media) { return; }
    var full = root.hasAttribute("data-full");
    var img = document.createElement("img");
    img.src = full ? data.image_url : data.thumbnail_url;
    var prompt = root.querySelector(".prompt, .prompt-title");
    img.alt = prompt ? prompt.textContent.trim() : "Generated image";
    media.replaceChildren(img);
  }

  function apply(root, data) {
    root.setAttribute("data-status", data.status);
    var badge = setText(root, "status", data.status_label);
    if (badge) { badge.className = "badge status-" + data.status; }
    setText(root, "progress", progressText(data));
    setText(root, "error", data.error);
    var placeholder = root.querySelector(".placeholder");
    if (placeholder && !ACTIVE[data.status]) { placeholder.classList.remove("busy"); }
    var demo = root.querySelector('[data-role="demo"]');
    if (demo) { demo.hidden = !data.demo; }
    if (data.status === "succeeded") {
      showImage(root, data);
      var download = root.querySelector('[data-role="download"]');
      if (download) { download.hidden = false; }
    }
    var retry = root.querySelector('[data-role="retry"]');
    if (retry) { retry.hidden = data.status !== "failed"; }
    var cancel = root.querySelector('[data-role="cancel"]');
    if (cancel) { cancel.hidden = data.status !== "queued"; }
  }

  function poll(root) {
    fetch(root.getAttribute("data-status-url"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.json(); })
      .then(function (data) {
        apply(root, data);
        if (ACTIVE[data.status]) { setTimeout(function () { poll(root); }, INTERVAL_MS); }
      })
      .catch(function () { setTimeout(function () { poll(root); }, INTERVAL_MS * 4); });
  }

  function copyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var field = document.querySelector(button.getAttribute("data-copy"));
        if (!field) { return; }
        field.select();
        var done = function () { button.textContent = "Copied"; };
        if (navigator.clipboard) { navigator.clipboard.writeText(field.value).then(done, done); } else { done(); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    copyButtons();
    document.querySelectorAll("[data-status-url]").forEach(function (root) {
      if (ACTIVE[root.getAttribute("data-status")]) { setTimeout(function () { poll(root); }, INTERVAL_MS); }
    });
  });
})();
