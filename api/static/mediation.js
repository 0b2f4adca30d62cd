// Session form (api/templates/mediation/session.html): Enter in the serial field -- what a
// barcode scanner types after the digits -- adds the serial to the list and shows every
// cheque's verdict without reloading the page, so the next scan is never lost. Without
// this script the same Enter submits the form's first button, "Ajouter", which does the
// same with a page reload.
(function () {
  "use strict";
  var form = document.querySelector("form[data-check]");
  if (!form || !window.fetch || !window.FormData) return;
  var input = form.querySelector("input[name=serial]");
  var list = form.querySelector("textarea[name=serials]");
  var box = document.getElementById("verdicts");
  if (!input || !list || !box) return;
  var pending = Promise.resolve();

  function check() {
    var body = new FormData(form);
    body.delete("serial");
    pending = pending
      .then(function () {
        return fetch(form.dataset.check, { method: "POST", body: body, credentials: "same-origin" });
      })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) { box.innerHTML = html; })
      .catch(function () { form.requestSubmit ? form.requestSubmit() : form.submit(); });
  }

  input.addEventListener("keydown", function (event) {
    if (event.key !== "Enter") return;
    event.preventDefault();
    var typed = input.value.trim();
    input.value = "";
    if (!typed) return;
    var current = list.value.replace(/\s+$/, "");
    list.value = current ? current + "\n" + typed : typed;
    check();
  });
  list.addEventListener("change", check);
})();
