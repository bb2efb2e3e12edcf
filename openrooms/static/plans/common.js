// Shared by the plan editor and the plan view. Positions are fractions (0..1) of the plan
// image's width and height; the CSP forbids style attributes in HTML, so every position is set
// here through element.style (CSSOM), which the CSP allows.

export const LETTER = { desk: "D", room: "R" };
export const KIND_NAME = { desk: "Desk", room: "Room" };

export function clamp01(value) {
  return Math.min(1, Math.max(0, value));
}

export function round4(value) {
  return Math.round(value * 10000) / 10000;
}

export function place(element, x, y) {
  element.style.left = `${x * 100}%`;
  element.style.top = `${y * 100}%`;
}

export function fractionAt(canvas, clientX, clientY) {
  const box = canvas.getBoundingClientRect();
  return {
    x: round4(clamp01((clientX - box.left) / box.width)),
    y: round4(clamp01((clientY - box.top) / box.height)),
  };
}

// Keeps the whole plan on screen: as wide as the page allows, but no taller than most of the
// viewport, whatever the image's proportions.
export function fitCanvas(canvas, width, height) {
  const ratio = Number(width) / Number(height);
  if (ratio > 0) canvas.style.maxWidth = `max(36rem, calc(78vh * ${ratio.toFixed(4)}))`;
}

// Opens a popover at (x, y) on the plan, turned towards the middle so it stays on the plan.
export function placePopover(popover, x, y) {
  place(popover, x, y);
  popover.classList.toggle("opens-left", x > 0.6);
  popover.classList.toggle("opens-up", y > 0.55);
}

export function seatCount(capacity) {
  return `${capacity} seat${capacity === 1 ? "" : "s"}`;
}

export function makeIcon(space) {
  const icon = document.createElement("button");
  icon.type = "button";
  icon.className = `plan-icon plan-icon--${space.kind}`;
  icon.dataset.id = String(space.id);
  icon.dataset.kind = space.kind;
  const letter = document.createElement("span");
  letter.className = "plan-icon__letter";
  letter.textContent = LETTER[space.kind];
  letter.setAttribute("aria-hidden", "true");
  icon.append(letter);
  if (space.kind === "room") {
    const seats = document.createElement("span");
    seats.className = "plan-icon__seats";
    seats.setAttribute("aria-hidden", "true");
    seats.textContent = String(space.capacity);
    icon.append(seats);
  }
  nameIcon(icon, space);
  place(icon, space.x, space.y);
  return icon;
}

export function nameIcon(icon, space, state = "") {
  const seats = space.kind === "room" ? `, ${seatCount(space.capacity)}` : "";
  const label = `${KIND_NAME[space.kind]} ${space.name}${seats}${state ? `: ${state}` : ""}`;
  icon.title = label;
  icon.setAttribute("aria-label", label);
}

export async function postJSON(url, body, csrf) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json",
      "X-CSRFToken": csrf,
    },
    body: JSON.stringify(body),
  });
  return readJSON(response);
}

export async function getJSON(url) {
  const response = await fetch(url, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  return readJSON(response);
}

async function readJSON(response) {
  let data = {};
  try {
    data = await response.json();
  } catch {
    // A proxy's HTML error page, say; the status line below still tells what happened.
  }
  if (!response.ok) {
    // The product's one error format: {"error": {"code", "message", "fields"}}.
    const message = data.error && data.error.message;
    throw new Error(message || `The server answered ${response.status}. Try again.`);
  }
  return data;
}

export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") node.textContent = value;
    else if (name === "className") node.className = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children);
  return node;
}
