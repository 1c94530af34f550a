import { h } from "./dom.js";

/** Where the chosen theme is kept (only the theme: never a token). */
const storageKey = "conclave-dashboard-theme";
type Theme = "light" | "dark";

const systemTheme = (): Theme =>
  matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";

function savedTheme(): Theme | undefined {
  try {
    const t = localStorage.getItem(storageKey);
    return t === "light" || t === "dark" ? t : undefined;
  } catch {
    return undefined; // storage disabled: follow the OS
  }
}

/** Applies the theme chosen earlier, if any (before the first paint of the views). */
export function applySavedTheme(): void {
  const t = savedTheme();
  if (t !== undefined) document.documentElement.dataset.theme = t;
}

/**
 * A light/dark switch: the page follows the OS until it is used, then
 * keeps the choice for this browser.
 */
export function themeToggle(): HTMLButtonElement {
  const button = h("button", {
    type: "button",
    class: "secondary small",
    "data-testid": "theme-toggle",
  });
  const current = (): Theme =>
    (document.documentElement.dataset.theme as Theme | undefined) ?? systemTheme();
  const label = () => {
    const next = current() === "dark" ? "light" : "dark";
    button.textContent = next === "dark" ? "☾ dark" : "☀ light";
    button.setAttribute("aria-label", `Switch to the ${next} theme`);
    button.title = `Switch to the ${next} theme`;
  };
  button.addEventListener("click", () => {
    const next: Theme = current() === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try {
      localStorage.setItem(storageKey, next);
    } catch {
      // storage disabled: the choice lasts for this page
    }
    label();
  });
  label();
  return button;
}
