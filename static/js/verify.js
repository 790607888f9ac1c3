// /verify's picker, as the create page's: the chosen file's name under the button, and the
// button then says "Choose another image". Without this script the button still opens it.
(function () {
  "use strict";
  var input = document.getElementById("verify-file");
  if (!input) { return; }
  var controls = input.closest(".photo-controls");
  var chosen = controls.querySelector('[data-role="chosen"]');
  var choose = controls.querySelector('[data-role="choose"]');
  input.addEventListener("change", function () {
    var file = input.files && input.files[0];
    if (!file) { return; }
    chosen.textContent = file.name;
    chosen.hidden = false;
    choose.textContent = choose.getAttribute("data-replace");
  });
})();
