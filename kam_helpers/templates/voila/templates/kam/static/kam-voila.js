// KAM Workspace: the page helpers of Voilà's lab template, as a file instead of inline scripts, so the apps'
// Content-Security-Policy can forbid every inline script (kam_helpers.safe_html.APP_CSP).
// Loaded once in the page header (defines the helpers), once per cell with data-cell / data-count (progress
// text) and once at the end with data-finish (shows the cells).
(function () {
  "use strict";
  if (!window.voila_finish) {
    window.voila_heartbeat = function () {
      console.log("Ok, voila is still executing...");
    };
    window.update_loading_text = function (cellIndex, cellCount, text) {
      var spinner = document.getElementById("loading");
      if (spinner && spinner.style.display === "none") {
        spinner.style.display = "flex";
      }
      var el = document.getElementById("loading_text");
      if (el) {
        el.textContent = text || "Executing " + cellIndex + " of " + cellCount;
      }
    };
    window.display_cells = function () {
      if (!window.themeLoaded) {
        window.cellLoaded = true;
        return;
      }
      var el = document.getElementById("loading");
      if (el) {
        el.parentNode.removeChild(el);
      }
      el = document.getElementById("rendered_cells");
      if (el) {
        el.style.display = "";
      }
    };
    window.voila_process = window.update_loading_text;
    window.voila_finish = window.display_cells;
  }
  var data = (document.currentScript && document.currentScript.dataset) || {};
  if (data.cell) {
    window.voila_process(Number(data.cell), Number(data.count));
  }
  if (data.finish !== undefined) {
    window.voila_finish();
  }
})();
