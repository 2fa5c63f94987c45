/**
 * Times as the dashboard shows them. assets/dashboard.js words relative
 * times the same way when it refreshes them in the browser; keep the two in
 * step.
 */

/** `just now`, `40 s ago`, `3 min ago`, `5 h ago`, `2 days ago`; a future moment `in 3 days`. */
export function ageText(at: Date, now: Date): string {
  const diff = Math.round((now.getTime() - at.getTime()) / 1000);
  const seconds = Math.abs(diff);
  if (seconds < 5) return 'just now';
  let amount: string;
  if (seconds < 60) amount = `${seconds} s`;
  else if (seconds < 3600) amount = `${Math.floor(seconds / 60)} min`;
  else if (seconds < 86_400) amount = `${Math.floor(seconds / 3600)} h`;
  else {
    const days = Math.floor(seconds / 86_400);
    amount = `${days} day${days === 1 ? '' : 's'}`;
  }
  return diff >= 0 ? `${amount} ago` : `in ${amount}`;
}

/** `850 ms`, `1.2 s`, `14 s`, `2 min 05 s`, `1 h 02 min`. */
export function durationText(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const two = (n: number): string => String(n).padStart(2, '0');
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${two(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${two(Math.floor((seconds % 3600) / 60))} min`;
}

/** `2026-12-04 19:12:05 UTC`: the server does not know the reader's time zone. */
export function utcText(at: Date): string {
  return `${at.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
