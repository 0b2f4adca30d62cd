// Buttons marked data-print print the page (the booklet slip, a letter): the page's
// Content-Security-Policy allows no inline onclick. Without JavaScript, the page says how
// to print instead.
(function () {
  "use strict";
  var buttons = document.querySelectorAll("[data-print]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", function () { window.print(); });
  }
})();
