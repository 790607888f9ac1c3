// Live status: every element with data-status-url polls its JSON while the generation is
// queued or running, and swaps in the image (or the error) when it ends. No reload needed.
(function () {
  "use strict";
  var ACTIVE = { queued: true, running: true };
  var ENDED_WITHOUT_IMAGE = { failed: true, canceled: true };
  // Held for a person's review: no hurry, but the page shows the outcome when it comes.
  var WATCHED = { queued: true, running: true, held: true };
  var INTERVAL_MS = 1500;
  var REVIEW_INTERVAL_MS = 30000;
  // The page's language when base.html loaded Django's JavaScript catalogue; English otherwise.
  var _ = function (text) { return window.gettext ? window.gettext(text) : text; };
  var format = function (text, values) {
    return window.interpolate ? window.interpolate(text, values, true) : text.replace(/%\((\w+)\)s/g, function (m, key) { return values[key]; });
  };

  function setText(root, role, text) {
    var el = root.querySelector('[data-role="' + role + '"]');
    if (el) { el.textContent = text || ""; el.hidden = !text; }
    return el;
  }

  function about(seconds) {
    return seconds === null || seconds === undefined ? "" : " · " + format(_("about %(seconds)s s"), { seconds: Math.max(1, Math.round(seconds)) });
  }

  function progressText(data) {
    if (data.notice) { return data.notice; }
    if (data.status === "queued" && data.position) { return format(_("Position %(position)s in the queue"), { position: data.position }) + about(data.estimated_seconds); }
    if (data.status === "running" && data.elapsed_seconds !== null) {
      var left = data.estimated_seconds === null ? "" : " · " + format(_("about %(seconds)s s left"), { seconds: Math.max(1, Math.round(data.estimated_seconds)) });
      return format(_("Running for %(seconds)s s"), { seconds: Math.round(data.elapsed_seconds) }) + left;
    }
    return "";
  }

  function showImage(root, data) {
    var media = root.querySelector('[data-role="media"]');
    if (!media) { return; }
    var full = root.hasAttribute("data-full");
    var img = document.createElement("img");
    img.src = full ? data.image_url : data.thumbnail_url;
    // Said on the page by the server (imagegen.presenters.image_alt): AI-made, and its words.
    img.alt = root.getAttribute("data-image-alt") || _("AI-generated");
    // The detail page's size is the image's own, whatever was expected of the service.
    var size = root.querySelector('[data-role="size"]');
    if (size && full) {
      img.addEventListener("load", function () { size.textContent = img.naturalWidth + " × " + img.naturalHeight; });
    }
    media.replaceChildren(img);
    // The "AI-generated" label beside it (issue 30): shown with the image.
    var label = root.querySelector('[data-role="ai-label"]');
    if (label) { label.hidden = false; }
    var original = root.querySelector('[data-role="download-original"]');
    if (original && original.hasAttribute("data-offered")) { original.hidden = false; }
  }

  // The detail page's parameters that are only known once the generation has run.
  function showParameters(root, data) {
    var row = function (role, text) {
      var value = root.querySelector('[data-role="' + role + '"]');
      var wrapper = root.querySelector('[data-role="' + role + '-row"]');
      if (value && text) { value.textContent = text; }
      if (wrapper) { wrapper.hidden = !text; }
    };
    if (data.actual_seed !== null && data.actual_seed !== undefined) { row("seed", String(data.actual_seed)); }
    row("provider", data.provider);
    row("model", data.model);
    row("prompt-en", data.prompt_en);
    row("negative-prompt-en", data.negative_prompt_en);
    row("translation-note", data.translation_note);
    if (data.duration_seconds !== null && data.duration_seconds !== undefined) {
      row("took", format(_("%(seconds)s s"), { seconds: data.duration_seconds.toFixed(1) }));
    }
  }

  // The "Queued" message that named this generation has said all it had to once it ends.
  function dropQueuedNotice(root) {
    document.querySelectorAll(".queued-notice.for-" + root.id).forEach(function (notice) {
      var list = notice.parentNode;
      notice.remove();
      if (list && !list.children.length) { list.remove(); }
    });
  }

  function apply(root, data) {
    root.setAttribute("data-status", data.status);
    var badge = setText(root, "status", data.status_label);
    if (badge) { badge.className = "badge status-" + data.status; }
    setText(root, "progress", progressText(data));
    setText(root, "error", data.error);
    var reviewNext = root.querySelector('[data-role="review-next"]');
    if (reviewNext) { reviewNext.hidden = data.status !== "held"; }
    var placeholder = root.querySelector(".placeholder");
    if (placeholder && !ACTIVE[data.status]) {
      placeholder.classList.remove("busy");
      placeholder.classList.add("ended");
      placeholder.setAttribute("data-label", data.status_label);
    }
    if (!ACTIVE[data.status]) {
      showParameters(root, data);
      dropQueuedNotice(root);
    }
    var demo = root.querySelector('[data-role="demo"]');
    if (demo) { demo.hidden = !data.demo; }
    if (data.status === "succeeded") {
      showImage(root, data);
      var download = root.querySelector('[data-role="download"]');
      if (download) { download.hidden = false; }
    }
    var retry = root.querySelector('[data-role="retry"]');
    if (retry) { retry.hidden = !ENDED_WITHOUT_IMAGE[data.status]; }
    var cancel = root.querySelector('[data-role="cancel"]');
    if (cancel) { cancel.hidden = data.status !== "queued"; }
  }

  function poll(root) {
    fetch(root.getAttribute("data-status-url"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.json(); })
      .then(function (data) {
        apply(root, data);
        if (WATCHED[data.status]) {
          setTimeout(function () { poll(root); }, ACTIVE[data.status] ? INTERVAL_MS : REVIEW_INTERVAL_MS);
        }
      })
      .catch(function () { setTimeout(function () { poll(root); }, INTERVAL_MS * 4); });
  }

  function copyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var field = document.querySelector(button.getAttribute("data-copy"));
        if (!field) { return; }
        field.select();
        var done = function () { button.textContent = _("Copied"); };
        if (navigator.clipboard) { navigator.clipboard.writeText(field.value).then(done, done); } else { done(); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    copyButtons();
    document.querySelectorAll("[data-status-url]").forEach(function (root) {
      var status = root.getAttribute("data-status");
      if (WATCHED[status]) { setTimeout(function () { poll(root); }, ACTIVE[status] ? INTERVAL_MS : REVIEW_INTERVAL_MS); } else { dropQueuedNotice(root); }
    });
  });
})();
