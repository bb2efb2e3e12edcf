// The office plan editor: add desks and rooms by clicking the plan, drag them (mouse, pen or
// touch), nudge them with the arrow buttons or keys, rename them, take them off the plan.
// Every change is saved at once; the last move can be undone.
import {
  KIND_NAME, clamp01, fitCanvas, fractionAt, makeIcon, nameIcon, place, placePopover,
  postJSON, round4, seatCount,
} from "./common.js";

const STEP = 0.005; // one arrow press: half a percent of the plan
const BIG_STEP = 0.025; // with Shift
const DRAG_THRESHOLD = 4; // pixels before a press becomes a drag

const root = document.getElementById("plan-editor");
if (root) start(root);

function start(root) {
  const canvas = document.getElementById("plan-canvas");
  const statusLine = document.getElementById("plan-status");
  const undoButton = document.getElementById("plan-undo");
  const addForm = document.getElementById("plan-add");
  const inspector = document.getElementById("plan-inspector");
  const nudgeButtons = [...root.querySelectorAll(".plan-nudge button")];
  const floorId = Number(root.dataset.floor);
  const spacesUrl = root.dataset.spacesUrl;
  const csrf = root.dataset.csrf;
  const spaces = new Map(
    JSON.parse(document.getElementById("plan-spaces").textContent).map((s) => [s.id, s]),
  );
  const icons = new Map();
  let selectedId = null;
  let lastMove = null; // {id, x, y, at, nudge}: where the last moved icon was before
  let saving = Promise.resolve(); // saves run one after another, in order
  let addKind = "desk";
  let addAt = null;

  fitCanvas(canvas, root.dataset.width, root.dataset.height);

  const say = (text, isError = false) => {
    statusLine.textContent = text;
    statusLine.classList.toggle("is-error", isError);
  };
  const isOnThisPlan = (space) => space.floor === floorId && space.x !== null && space.y !== null;

  // Icons

  function addIcon(space) {
    const icon = makeIcon(space);
    icon.setAttribute("aria-pressed", "false");
    icon.addEventListener("pointerdown", (event) => startDrag(event, icon));
    icon.addEventListener("click", (event) => event.stopPropagation());
    icon.addEventListener("keydown", (event) => onIconKey(event, space.id));
    icon.addEventListener("focus", () => select(space.id));
    canvas.append(icon);
    icons.set(space.id, icon);
    return icon;
  }

  for (const space of spaces.values()) if (isOnThisPlan(space)) addIcon(space);

  function select(id) {
    selectedId = id;
    for (const [iconId, icon] of icons) {
      const on = iconId === id;
      icon.classList.toggle("is-selected", on);
      icon.setAttribute("aria-pressed", String(on));
    }
    const space = spaces.get(id);
    inspector.querySelector('[data-when="empty"]').hidden = Boolean(space);
    inspector.querySelector('[data-when="selected"]').hidden = !space;
    for (const button of nudgeButtons) button.disabled = !space;
    if (!space) return;
    document.getElementById("plan-selected-kind").textContent = KIND_NAME[space.kind];
    document.getElementById("plan-rename-input").value = space.name;
    const link = document.getElementById("plan-settings-link");
    link.hidden = !space.settings_url;
    link.href = space.settings_url || "#";
    link.textContent = `Open the ${space.kind}'s settings`;
  }

  // Moving and saving

  function move(id, to, { nudge = false } = {}) {
    const space = spaces.get(id);
    const from = { x: space.x, y: space.y };
    const now = Date.now();
    // A run of arrow presses on one icon is one move for undo.
    const continuing = nudge && lastMove && lastMove.id === id && lastMove.nudge
      && now - lastMove.at < 2000;
    lastMove = continuing
      ? { ...lastMove, at: now }
      : { id, x: from.x, y: from.y, at: now, nudge };
    undoButton.disabled = false;
    save(id, to, from);
  }

  let pending = 0; // saves not answered yet, shown on the editor for tests and styles
  const setPending = (change) => {
    pending += change;
    root.dataset.pending = String(pending);
  };
  setPending(0);

  function save(id, to, from) {
    const space = spaces.get(id);
    space.x = to.x;
    space.y = to.y;
    place(icons.get(id), to.x, to.y);
    setPending(1);
    saving = saving.then(async () => {
      try {
        const saved = await postJSON(`${spacesUrl}${id}/position/`, { x: to.x, y: to.y }, csrf);
        say(`Saved: ${saved.name} is at ${Math.round(saved.x * 100)}% across, `
          + `${Math.round(saved.y * 100)}% down.`);
      } catch (error) {
        space.x = from.x;
        space.y = from.y;
        place(icons.get(id), from.x, from.y);
        say(`${space.name} was not moved: ${error.message}`, true);
      } finally {
        setPending(-1);
      }
    });
    return saving;
  }

  undoButton.addEventListener("click", () => {
    if (!lastMove) return;
    const { id, x, y } = lastMove;
    const space = spaces.get(id);
    lastMove = null;
    undoButton.disabled = true;
    if (!icons.has(id)) return;
    save(id, { x, y }, { x: space.x, y: space.y }).then(() => {
      if (!statusLine.classList.contains("is-error")) say(`Undone: ${space.name} is back.`);
    });
    select(id);
  });

  function nudge(id, dx, dy, big = false) {
    const space = spaces.get(id);
    const step = big ? BIG_STEP : STEP;
    move(id, {
      x: round4(clamp01(space.x + dx * step)),
      y: round4(clamp01(space.y + dy * step)),
    }, { nudge: true });
  }

  for (const button of nudgeButtons) {
    button.addEventListener("click", (event) => {
      if (selectedId === null) return;
      nudge(selectedId, Number(button.dataset.dx), Number(button.dataset.dy), event.shiftKey);
    });
  }

  const ARROWS = { ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] };

  function onIconKey(event, id) {
    if (ARROWS[event.key]) {
      event.preventDefault();
      nudge(id, ...ARROWS[event.key], event.shiftKey);
    } else if (event.key === "Escape") {
      icons.get(id).blur();
      select(null);
    }
  }

  // Dragging: pointer events cover mouse, pen and touch alike.

  function startDrag(event, icon) {
    if (event.button !== 0) return;
    event.preventDefault();
    event.stopPropagation();
    closeAdd();
    const id = Number(icon.dataset.id);
    const space = spaces.get(id);
    const from = { x: space.x, y: space.y };
    const origin = { x: event.clientX, y: event.clientY };
    let dragging = false;
    let to = from;
    icon.setPointerCapture(event.pointerId);
    icon.focus({ preventScroll: true });
    select(id);

    const onMove = (moveEvent) => {
      if (!dragging) {
        const distance = Math.hypot(moveEvent.clientX - origin.x, moveEvent.clientY - origin.y);
        if (distance < DRAG_THRESHOLD) return;
        dragging = true;
        icon.classList.add("is-dragging");
      }
      to = fractionAt(canvas, moveEvent.clientX, moveEvent.clientY);
      place(icon, to.x, to.y);
    };
    const onEnd = (endEvent) => {
      icon.removeEventListener("pointermove", onMove);
      icon.removeEventListener("pointerup", onEnd);
      icon.removeEventListener("pointercancel", onEnd);
      icon.classList.remove("is-dragging");
      if (!dragging) return;
      if (endEvent.type === "pointercancel") {
        place(icon, from.x, from.y);
        return;
      }
      space.x = from.x;
      space.y = from.y;
      move(id, to);
    };
    icon.addEventListener("pointermove", onMove);
    icon.addEventListener("pointerup", onEnd);
    icon.addEventListener("pointercancel", onEnd);
  }

  // Adding: click an empty spot, choose Desks or Rooms, pick one (or name a new one).

  const kindButtons = [...addForm.querySelectorAll(".plan-toggle button")];
  const spaceSelect = document.getElementById("plan-add-space");
  const newName = document.getElementById("plan-add-new");
  const addError = addForm.querySelector(".plan-error");

  function fillAddForm() {
    for (const button of kindButtons) {
      button.setAttribute("aria-pressed", String(button.dataset.kind === addKind));
    }
    const plural = addKind === "desk" ? "desks" : "rooms";
    document.getElementById("plan-add-space-label").textContent = KIND_NAME[addKind];
    document.getElementById("plan-add-new-label").textContent = `or a new ${addKind} named`;
    const waiting = [...spaces.values()]
      .filter((s) => s.kind === addKind && (s.x === null || s.y === null))
      .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
    spaceSelect.replaceChildren();
    if (waiting.length === 0) {
      spaceSelect.append(new Option(`Every ${addKind} is on a plan`, ""));
      spaceSelect.disabled = true;
    } else {
      spaceSelect.disabled = false;
      spaceSelect.append(new Option(`Choose one of ${waiting.length} ${plural}`, ""));
      for (const space of waiting) {
        const seats = space.kind === "room" ? ` (${seatCount(space.capacity)})` : "";
        spaceSelect.append(new Option(`${space.name}${seats}`, String(space.id)));
      }
      if (waiting.length === 1) spaceSelect.value = String(waiting[0].id);
    }
    addError.textContent = "";
  }

  // Where the new icon will go, while the panel is open.
  const marker = document.createElement("span");
  marker.className = "plan-add-marker";
  marker.hidden = true;
  marker.setAttribute("aria-hidden", "true");
  canvas.append(marker);

  function openAdd(at) {
    addAt = at;
    place(marker, at.x, at.y);
    marker.hidden = false;
    newName.value = "";
    fillAddForm();
    placePopover(addForm, at.x, at.y);
    addForm.hidden = false;
    (spaceSelect.disabled ? newName : spaceSelect).focus({ preventScroll: true });
  }

  function closeAdd() {
    addForm.hidden = true;
    marker.hidden = true;
    addAt = null;
  }

  canvas.addEventListener("click", (event) => {
    if (addForm.contains(event.target)) return;
    if (!addForm.hidden) {
      closeAdd();
      return;
    }
    select(null);
    openAdd(fractionAt(canvas, event.clientX, event.clientY));
  });
  addForm.addEventListener("pointerdown", (event) => event.stopPropagation());
  addForm.querySelector("[data-close]").addEventListener("click", closeAdd);
  addForm.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeAdd();
  });
  for (const button of kindButtons) {
    button.addEventListener("click", () => {
      addKind = button.dataset.kind;
      fillAddForm();
    });
  }

  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!addAt) return;
    const body = { x: addAt.x, y: addAt.y, kind: addKind };
    if (newName.value.trim()) body.new_name = newName.value.trim();
    else if (spaceSelect.value) body.space = Number(spaceSelect.value);
    else {
      addError.textContent = `Choose a ${addKind} from the list, or name a new one.`;
      return;
    }
    try {
      const space = await postJSON(spacesUrl, body, csrf);
      spaces.set(space.id, space);
      icons.get(space.id)?.remove();
      const icon = addIcon(space);
      closeAdd();
      icon.focus({ preventScroll: true });
      say(`Added ${KIND_NAME[space.kind].toLowerCase()} ${space.name} to the plan.`);
    } catch (error) {
      addError.textContent = error.message;
    }
  });

  // The selected icon: rename, remove.

  document.getElementById("plan-rename").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (selectedId === null) return;
    const input = document.getElementById("plan-rename-input");
    try {
      const saved = await postJSON(`${spacesUrl}${selectedId}/rename/`, { name: input.value },
        csrf);
      const space = spaces.get(selectedId);
      space.name = saved.name;
      nameIcon(icons.get(selectedId), space);
      say(`Renamed to ${saved.name}.`);
    } catch (error) {
      say(`Not renamed: ${error.message}`, true);
    }
  });

  document.getElementById("plan-remove").addEventListener("click", async () => {
    if (selectedId === null) return;
    const id = selectedId;
    try {
      const saved = await postJSON(`${spacesUrl}${id}/remove/`, {}, csrf);
      spaces.set(id, { ...spaces.get(id), x: saved.x, y: saved.y });
      icons.get(id).remove();
      icons.delete(id);
      if (lastMove?.id === id) {
        lastMove = null;
        undoButton.disabled = true;
      }
      select(null);
      say(`${saved.name} is off the plan; click an empty spot to place it again.`);
    } catch (error) {
      say(`Not removed: ${error.message}`, true);
    }
  });

  document.addEventListener("keydown", (event) => {
    const inField = event.target.closest?.("input, select, textarea");
    if (!inField && (event.ctrlKey || event.metaKey) && event.key === "z" && lastMove) {
      event.preventDefault();
      undoButton.click();
    }
  });

  select(null);
}
