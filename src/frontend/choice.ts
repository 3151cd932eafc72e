// Which order replica leads, as the lab says: ping the highest id first and take the first that
// answers; tell every replica the choice. Each choice carries a rising epoch, so a replica can refuse
// an older leader. The choice is kept until a call to the leader fails.
//
// A pure machine: no timer, no promise, no clock of its own. Events in (someone wants the leader, a
// ping's answer, a notice's answer, the time now, a leader forgotten), actions out (ping, notice,
// chosen, failed). leader.ts drives it with real calls and the wall clock; the replica simulator
// (test/helpers/simulator.ts) drives several of it against the replicas' real state machines.
import { BazaarError } from '../core/errors.ts';
import { ELECTION_TIMEOUT_MS, LEADER_FOLLOW_ATTEMPTS_MAX, LEADER_FOLLOW_WAIT_MS, LEADER_PING_TIMEOUT_MS, LEADER_SUSPECT_GRACE_MS, LEADER_SUSPECT_MS } from '../core/limits.ts';

/** What a ping learns of a replica (its `/health`). */
export interface Ping {
  readonly epoch: number;
  readonly leaderId: number | null;
  readonly state: string;
  readonly serving: boolean;
}

export type ChoiceAction =
  | { readonly kind: 'ping'; readonly id: number; readonly timeoutMs: number }
  | { readonly kind: 'notice'; readonly id: number; readonly epoch: number; readonly leaderId: number; readonly timeoutMs: number }
  /** A leader is chosen: everyone waiting for one gets it. */
  | { readonly kind: 'chosen'; readonly id: number; readonly epoch: number }
  /** No leader can be had now: everyone waiting gets the error (503). */
  | { readonly kind: 'failed'; readonly error: BazaarError }
  | { readonly kind: 'note'; readonly level: 'info' | 'warn'; readonly message: string };

/** A notice's answer: the replica took it, or refused it with our error code, or did not answer. */
export type NoticeOutcome = { readonly ok: true } | { readonly ok: false; readonly code: string | undefined; readonly message: string };

type Answers = Map<number, Ping>;

/**
 * Where a choice stands. pinging: asking every replica for its health, `waiting` for those not
 * answered yet (suspects are waited for only until `graceAt` once every other has answered, unless
 * none did); following: another frontend's election is under way (it was
 * at epoch `since` when this one began to follow), look again at `at`; noticing: telling the others of `epoch` (the candidate last, which answers once it
 * serves).
 */
type Phase =
  | { readonly kind: 'idle' }
  | { readonly kind: 'pinging'; readonly purpose: 'choose' | 'follow'; readonly attempt: number; readonly since: number; readonly known: number; readonly waiting: Set<number>; readonly answers: Answers; graceAt: number | undefined }
  | { readonly kind: 'following'; readonly attempt: number; readonly since: number; readonly at: number }
  | { readonly kind: 'noticing'; readonly alive: readonly number[]; readonly index: number; readonly epoch: number; readonly waiting: Set<number>; readonly candidate: boolean };

export class LeaderChoice {
  /** Highest id first: the order in which candidates are tried. */
  readonly ids: readonly number[];
  leader: number | undefined;
  /** The highest epoch this frontend has seen or started. */
  epoch = 0;
  elections = 0;
  /** Replicas that just failed as leader (gone or hung), by id, until when they are left out of the choices. */
  readonly suspects = new Map<number, number>();
  phase: Phase = { kind: 'idle' };
  private outbox: ChoiceAction[] = [];

  constructor(ids: readonly number[]) {
    this.ids = [...ids].sort((a, b) => b - a);
  }

  takeActions(): ChoiceAction[] {
    const actions = this.outbox;
    this.outbox = [];
    return actions;
  }

  /** When the machine next needs a tick, if it waits for time. */
  nextWake(): number | undefined {
    if (this.phase.kind === 'following') return this.phase.at;
    if (this.phase.kind === 'pinging') return this.phase.graceAt;
    return undefined;
  }

  /** Someone needs the leader: chosen at once if known, else a choice starts (one at a time; later callers share it). */
  want(now: number): void {
    if (this.leader !== undefined) return this.emit({ kind: 'chosen', id: this.leader, epoch: this.epoch });
    if (this.phase.kind === 'idle') this.ping('choose', 0, now);
  }

  /**
   * Drops the choice after a call to it failed, so the next request chooses again. A leader that is
   * gone or hung (`suspect`) is waited for only briefly by the pings of the next LEADER_SUSPECT_MS:
   * waiting out a hung one's ping timeout would hold the next election that long. Only the chosen
   * leader becomes suspect: a call to an earlier one that fails late says nothing of the failure at
   * hand, and a suspicion of a replica that has since come back would have this frontend choose
   * unlike the others.
   */
  forget(id: number, suspect: boolean, now: number): void {
    if (suspect && this.leader === id) this.suspects.set(id, now + LEADER_SUSPECT_MS);
    if (this.leader === id) this.leader = undefined;
  }

  tick(now: number): void {
    const phase = this.phase;
    if (phase.kind === 'following' && now >= phase.at) this.ping('follow', phase.attempt + 1, now, undefined, phase.since);
    if (phase.kind === 'pinging' && phase.graceAt !== undefined && now >= phase.graceAt) this.pingsDone(phase, now);
  }

  /** A ping's answer; undefined when the replica did not answer in time. */
  pinged(id: number, ping: Ping | undefined, now: number): void {
    const phase = this.phase;
    if (phase.kind !== 'pinging' || !phase.waiting.delete(id)) return;
    if (ping !== undefined) {
      phase.answers.set(id, ping);
      // It answers: whatever made it suspect (a crash it has come back from) is over.
      this.suspects.delete(id);
    }
    if (phase.waiting.size === 0) return this.pingsDone(phase, now);
    // Only suspects still owe an answer, and someone answered: wait a moment for them, not a whole
    // ping timeout (a hung leader would hold the choice that long). A suspect that answers in time is
    // a candidate like any other, so frontends with different suspicions still choose alike. But a
    // replica that another frontend has just stood for a newer epoch is waited for in full: deciding
    // without it would outbid that election.
    const onlySuspects = [...phase.waiting].every((waiting) => this.suspects.has(waiting));
    phase.graceAt = onlySuspects && phase.answers.size > 0 && !this.newerCandidateOwed(phase) ? (phase.graceAt ?? now + LEADER_SUSPECT_GRACE_MS) : undefined;
  }

  /** Some replica has joined an epoch newer than this frontend knew of, for a candidate that has not answered yet. */
  private newerCandidateOwed(phase: Extract<Phase, { kind: 'pinging' }>): boolean {
    return [...phase.answers.values()].some((answer) => answer.epoch > phase.known && answer.leaderId !== null && phase.waiting.has(answer.leaderId));
  }

  private pingsDone(phase: Extract<Phase, { kind: 'pinging' }>, now: number): void {
    for (const answer of phase.answers.values()) this.epoch = Math.max(this.epoch, answer.epoch);
    if (phase.purpose === 'follow') return this.afterFollowPing(phase.answers, phase.attempt, phase.since, now);
    this.afterChoosePing(phase.answers, now);
  }

  /** A notice's answer. */
  noticed(id: number, epoch: number, outcome: NoticeOutcome, now: number): void {
    const phase = this.phase;
    if (phase.kind !== 'noticing' || phase.epoch !== epoch || !phase.waiting.delete(id)) return;
    if (!phase.candidate) {
      // The others were told first (they now refuse the old leader); then the candidate, which answers once it serves.
      if (phase.waiting.size === 0) this.noticeCandidate(phase.alive, phase.index, epoch);
      return;
    }
    const candidate = phase.alive[phase.index]!;
    if (outcome.ok) {
      this.note('info', `frontend: order replica ${candidate} leads epoch ${epoch}`);
      return this.choose(candidate);
    }
    if (outcome.code === 'STALE_EPOCH') {
      // Another frontend's election got there first: follow its leader rather than outbid it with a
      // newer epoch (frontends that outbid each other would never settle).
      return this.ping('follow', 0, now, { alive: phase.alive, index: phase.index + 1 }, this.epoch);
    }
    if (outcome.code === 'NO_QUORUM') return this.fail(`no majority of order replicas is reachable (replica ${candidate}: ${outcome.message})`);
    this.note('warn', `frontend: replica ${candidate} could not take epoch ${epoch}: ${outcome.message}`);
    this.elect(phase.alive, phase.index + 1);
  }

  // ---- The steps of a choice ---------------------------------------------------------------------

  /** Where an election resumes if following another frontend's finds no leader. */
  private resume: { alive: readonly number[]; index: number } | undefined;

  private ping(purpose: 'choose' | 'follow', attempt: number, now: number, resume?: { alive: readonly number[]; index: number }, since = this.epoch): void {
    if (purpose === 'choose' || resume !== undefined) this.resume = resume;
    for (const [id, until] of this.suspects) if (until <= now) this.suspects.delete(id);
    this.phase = { kind: 'pinging', purpose, attempt, since, known: this.epoch, waiting: new Set(this.ids), answers: new Map(), graceAt: undefined };
    for (const id of this.ids) this.emit({ kind: 'ping', id, timeoutMs: LEADER_PING_TIMEOUT_MS });
  }

  /** Live replicas that can lead, highest id first: a recovering one (a lost disk) neither leads nor votes. */
  private alive(answers: Answers): number[] {
    return this.ids.filter((id) => answers.has(id) && answers.get(id)!.state !== 'recovering');
  }

  /** A live replica that leads the newest epoch this frontend knows, and serves. */
  private servingAt(answers: Answers): number | undefined {
    return this.alive(answers).find((id) => {
      const answer = answers.get(id)!;
      return answer.state === 'leader' && answer.serving && answer.epoch === this.epoch;
    });
  }

  private afterChoosePing(answers: Answers, now: number): void {
    if (answers.size === 0) return this.fail('no order replica is answering');
    // A live replica already leads the newest epoch (chosen by another frontend, or by this one
    // before it restarted): adopt it rather than start another epoch, so frontends never fight and
    // one failure costs one election.
    const serving = this.servingAt(answers);
    if (serving !== undefined) {
      if (this.leader !== serving) this.note('info', `frontend: order replica ${serving} already leads epoch ${this.epoch}; following it`);
      return this.choose(serving);
    }
    const alive = this.alive(answers);
    // Another frontend's election is under way. Give it a moment rather than outbid it.
    if (this.electionUnderWay(answers)) return this.ping('follow', 0, now, { alive, index: 0 });
    this.elect(alive, 0);
  }

  /**
   * Replicas have joined the newest epoch for a live candidate that stands for it and does not serve
   * yet: it has not had its notice yet (an older epoch), or it polls (a candidate). A candidate that
   * is a follower in that same epoch is not standing: it is a leader that restarted, or one that
   * gave up.
   */
  private electionUnderWay(answers: Answers): boolean {
    return [...answers.values()].some((answer) => {
      if (answer.epoch !== this.epoch || answer.leaderId === null) return false;
      const candidate = answers.get(answer.leaderId);
      return candidate !== undefined && (candidate.epoch < this.epoch || candidate.state !== 'follower');
    });
  }

  private afterFollowPing(answers: Answers, attempt: number, since: number, now: number): void {
    const serving = this.servingAt(answers);
    if (serving !== undefined) {
      this.note('info', `frontend: order replica ${serving} leads epoch ${this.epoch} (another frontend's choice); following it`);
      return this.choose(serving);
    }
    if (attempt + 1 < LEADER_FOLLOW_ATTEMPTS_MAX) {
      this.phase = { kind: 'following', attempt, since, at: now + LEADER_FOLLOW_WAIT_MS };
      return;
    }
    // A newer epoch appeared meanwhile: another frontend is electing. Look afresh rather than outbid it.
    if (this.epoch > since) return this.ping('choose', 0, now);
    // The other election did not finish: go on with this one where it stood.
    const resume = this.resume ?? { alive: this.alive(answers), index: 0 };
    if (resume.alive.length === 0) return this.fail('no order replica is answering');
    this.elect(resume.alive, resume.index);
  }

  /** Stands `alive[index]` for a new epoch: the others are told first. */
  private elect(alive: readonly number[], index: number): void {
    if (index >= alive.length) return this.fail('no order replica could take the lead');
    this.epoch += 1;
    this.elections += 1;
    const others = alive.filter((_, position) => position !== index);
    this.phase = { kind: 'noticing', alive, index, epoch: this.epoch, waiting: new Set(others), candidate: false };
    if (others.length === 0) return this.noticeCandidate(alive, index, this.epoch);
    for (const id of others) this.emit({ kind: 'notice', id, epoch: this.epoch, leaderId: alive[index]!, timeoutMs: LEADER_PING_TIMEOUT_MS });
  }

  private noticeCandidate(alive: readonly number[], index: number, epoch: number): void {
    const candidate = alive[index]!;
    this.phase = { kind: 'noticing', alive, index, epoch, waiting: new Set([candidate]), candidate: true };
    this.emit({ kind: 'notice', id: candidate, epoch, leaderId: candidate, timeoutMs: ELECTION_TIMEOUT_MS });
  }

  private choose(id: number): void {
    this.leader = id;
    // A suspicion served the choice it was made for; held longer, it would let frontends that
    // suspected different replicas at different times choose differently the next time.
    this.suspects.clear();
    this.phase = { kind: 'idle' };
    this.resume = undefined;
    this.emit({ kind: 'chosen', id, epoch: this.epoch });
  }

  private fail(why: string): void {
    this.phase = { kind: 'idle' };
    this.resume = undefined;
    this.emit({ kind: 'failed', error: new BazaarError('NO_LEADER', `${why}; retry shortly`, { retryAfterS: 1 }) });
  }

  private emit(action: ChoiceAction): void {
    this.outbox.push(action);
  }

  private note(level: 'info' | 'warn', message: string): void {
    this.emit({ kind: 'note', level, message });
  }
}
