// The keyboard model of a split pane's list (`j`/`k` move, `Enter` opens),
// shared by the queue, sessions and onboarding screens. Pure except
// `focusRow`, so the rules are tested without a DOM; `SplitPane.svelte`
// wires them to the shortcuts. (`Esc` is App's: it goes back a route.)
import { moveSelection } from './state';

/** The row Tab lands on: the selected one when it is listed, else the first; one tab stop per list. */
export function tabStop(ids: readonly string[], selected: string | null): string | null {
  return selected !== null && ids.includes(selected) ? selected : (ids[0] ?? null);
}

/**
 * Where the selection is in `ids`, or `last` once it has left the list
 * (answered, say), so `j`/`k` carry on from where it was.
 */
export function rememberIndex(ids: readonly string[], selected: string | null, last: number | null): number | null {
  const i = selected !== null ? ids.indexOf(selected) : -1;
  return i >= 0 ? i : last;
}

export interface ListPosition {
  ids: readonly string[];
  selected: string | null;
  /** From `rememberIndex`. */
  lastIndex: number | null;
  /** The item open in the detail pane, if any. */
  openId: string | null;
  /** One pane at a time (the detail hides the list). */
  narrow: boolean;
}

/**
 * `j` (+1) or `k` (-1): the new selection, and the item to open with it.
 * In the wide layout an open item follows the selection, like an inbox; in
 * the narrow one the list is hidden behind it, so nothing opens.
 */
export function step(p: ListPosition, delta: number): { select: string | null; open: string | null } {
  const select = moveSelection([...p.ids], p.selected, delta, p.lastIndex);
  return { select, open: select !== null && p.openId !== null && !p.narrow ? select : null };
}

/** `Enter`: the selection when it is listed; null leaves the key to whoever else wants it. */
export function openable(ids: readonly string[], selected: string | null): string | null {
  return selected !== null && ids.includes(selected) ? selected : null;
}

/** Besides the rows: a loading line, the empty state, or neither (the load failed; its error says so). */
export type ListStatus = 'loading' | 'failed' | 'ready';

/** For a list fetched once then kept live: "empty" is only said of a list that loaded. */
export function listStatus(loaded: boolean, error: string | null): ListStatus {
  if (loaded) return 'ready';
  return error !== null ? 'failed' : 'loading';
}

/** Focuses the row marked `data-id="<id>"` (as `ListRow` marks its own) and scrolls it just into view. */
export function focusRow(container: ParentNode | undefined, id: string | null): void {
  if (!id || !container) return;
  const el = container.querySelector<HTMLElement>(`[data-id="${CSS.escape(id)}"]`);
  el?.focus();
  el?.scrollIntoView({ block: 'nearest' });
}
