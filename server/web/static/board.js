// The board and a room's week: start the grid scrolled to the morning (or to the hour of
// the first booking) on narrow screens.  Everything works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".grid-scroll").forEach(function (scroller) {
    var morning = scroller.querySelector("#hour-7");
    var corner = scroller.querySelector(".corner");
    if (morning && corner && scroller.scrollWidth > scroller.clientWidth) {
      scroller.scrollLeft = morning.offsetLeft - corner.offsetWidth;
    }
  });
});
