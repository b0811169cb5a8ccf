// The seeds' frontend packages (@withone/auth, @picahq/authkit) post their payload to this frame once, on its
// load event, which can come before the wasm app is running. Keep what the parent window posts until the app
// reads it (window.__plugboardParent). Only when the page was opened the seeds' way (`?data=`).
(function () {
  if (!/[?&]data=/.test(location.search) || window.parent === window) return;
  var kept = [];
  window.__plugboardParent = kept;
  addEventListener("message", function (e) {
    if (e.source === window.parent) kept.push(e);
  });
})();
