// What the host pages' callbacks received, one line each, for the browser tests to read: `onSuccess <record JSON>`,
// `onError <message>`, `onClose`. The options a test asks for come from the page's query string.
export const params = new URLSearchParams(location.search);

export function log(line) {
  document.getElementById("log").textContent += line + "\n";
}

// The display options both packages take, from the query string (absent ones stay undefined).
export function displayOptions() {
  const opt = (name) => params.get(name) || undefined;
  return {
    title: opt("title"),
    companyName: opt("companyName"),
    imageUrl: opt("imageUrl"),
    appTheme: opt("appTheme"),
    selectedConnection: opt("selectedConnection"),
    showNameInput: params.has("showNameInput") || undefined,
  };
}

// The host backend's token endpoint: a full URL, as the seeds require.
export function tokenUrl(path) {
  const url = new URL(path, location.origin);
  if (params.get("wrongKey")) url.searchParams.set("wrongKey", "1");
  return url.href;
}
