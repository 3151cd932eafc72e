// Work held to the end of this turn of the event loop, so that what one turn produces goes out
// together: every frame for a peer in one write, every line for a file in one write + fdatasync.
// Messages go first, then the disk: an fdatasync runs on the event loop (storage/jsonl.ts), and a
// message produced in the same turn (a reply, a catalog call, a follower's append) must not wait
// behind it.

export type Pass = 'send' | 'write';

const sends: Array<() => void> = [];
const writes: Array<() => void> = [];
let scheduled = false;

function run(): void {
  scheduled = false;
  const sending = sends.splice(0);
  const writing = writes.splice(0);
  for (const task of sending) task();
  for (const task of writing) task();
}

/** Runs `task` at the end of this turn, in its pass. Work added from a task runs at the end of the next turn. */
export function atEndOfTurn(pass: Pass, task: () => void): void {
  (pass === 'send' ? sends : writes).push(task);
  if (scheduled) return;
  scheduled = true;
  setImmediate(run);
}
