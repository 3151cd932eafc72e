// The evaluation's crash-experiment section: the handout's three questions answered from the figures.
import { type CrashClient, type CrashExperiment, type CrashRound, CRASH_CLIENTS, CRASH_P, MISSED_ORDERS_MIN } from './crash-experiment.ts';
import { table } from './markdown.ts';
import { median } from './measure.ts';

const sum = (clients: readonly CrashClient[], pick: (client: CrashClient) => number): number => clients.reduce((total, client) => total + pick(client), 0);
const allClients = (rounds: readonly CrashRound[]): CrashClient[] => rounds.flatMap((round) => round.clients);

export function crashSection(experiment: CrashExperiment): string[] {
  const { rounds, files } = experiment;
  const out: string[] = ['## The crash experiment (the handout\'s)', ''];
  out.push(
    `Each round, ${CRASH_CLIENTS} \`bazaar client\` processes (one session each, p = ${CRASH_P}) start trading. A replica is killed with \`kill -9\`, chosen by a schedule seeded with ${experiment.seed}: the leader in half the rounds, a follower (one of the other two at random) in the rest, in a shuffled order. It stays down until at least ${MISSED_ORDERS_MIN} orders have committed without it; then \`bazaar admin recover\` starts it while the clients keep trading, and its catch-up is timed until it holds every order the leader had when it came back. Then the clients get SIGINT, as a user's Ctrl-C, and run their final checking phase: each fetches every order it placed and compares it with what it sent. Last, each replica's order log (its database file) is hashed.`,
    '',
  );
  out.push(
    table(
      ['round', 'killed', 'was', 'down ms', 'orders missed', 'catch-up ms (under load)', 'new epochs', 'orders placed', 'errors while trading', 'failures in the final check', 'client exit codes', 'trade p50 / max ms', 'frontend 5xx', 'logs after the round'],
      rounds.map((round) => [
        String(round.round),
        `replica ${round.victim}`,
        round.was,
        String(round.down_ms),
        String(round.missed_orders),
        String(round.catch_up_ms),
        String(round.new_epochs),
        String(sum(round.clients, (client) => client.orders_placed)),
        String(sum(round.clients, (client) => client.errors_while_trading)),
        String(sum(round.clients, (client) => client.final_check_failures)),
        [...new Set(round.clients.map((client) => client.exit_code))].join(', '),
        `${median(round.clients.map((client) => client.trade_p50_ms ?? 0))} / ${Math.max(...round.clients.map((client) => client.trade_max_ms ?? 0))}`,
        `${round.frontend_5xx} of ${round.frontend_requests}`,
        `${round.files.identical ? 'identical' : '**differ**'} (${Object.values(round.files.hashes)[0]?.slice(0, 12) ?? '–'}…), catalog ${round.files.conserved ? '= log' : '**≠ log**'}`,
      ]),
    ),
    '',
  );
  out.push('"Trade p50 / max" is the median of the five clients\' p50 and the slowest trade of any of them. "Frontend 5xx" counts, from the frontend\'s own `/metrics`, the lookups, trades and order queries it answered with a 5xx from the kill to the end of the catch-up, out of all it answered: what a client would have seen and retried.', '');
  out.push('Each replica\'s order log after the last round, sha256:', '');
  out.push(table(['replica', 'sha256'], Object.entries(files.hashes).map(([id, hash]) => [`replica ${id}`, `\`${hash}\``])), '');
  out.push(...answers(experiment).map((line) => `- ${line}`), '');
  return out;
}

/** The handout's questions, answered from this run's figures (and saying so when they went wrong). */
export function answers(experiment: CrashExperiment): string[] {
  const { rounds, files } = experiment;
  const clients = allClients(rounds);
  const leaders = rounds.filter((round) => round.was === 'leader').length;
  const whileTrading = sum(clients, (client) => client.errors_while_trading);
  const finalCheck = sum(clients, (client) => client.final_check_failures);
  const placed = sum(clients, (client) => client.orders_placed);
  const retries = sum(clients, (client) => client.retries);
  const fivexx = rounds.reduce((total, round) => total + round.frontend_5xx, 0);
  const worst = Math.max(...clients.map((client) => client.trade_max_ms ?? 0));
  const missed = rounds.map((round) => round.missed_orders);
  const catchUp = rounds.map((round) => round.catch_up_ms);
  const identicalRounds = rounds.filter((round) => round.files.identical && round.files.conserved).length;
  const lines: string[] = [];
  lines.push(
    `**Can the clients notice the failures while they trade?** ${whileTrading === 0 ? 'Not as errors' : `**Yes: ${whileTrading} requests failed**`}: over ${rounds.length} crashes (${leaders} of the leader, ${rounds.length - leaders} of a follower) the ${clients.length} client processes placed ${placed} orders with ${whileTrading} failed requests${retries === 0 ? ' and no retries' : ` and ${retries} retried requests`}, and the frontend answered ${fivexx === 0 ? 'no request' : `**${fivexx} requests**`} with a 5xx. What they can see is time: the slowest trade took ${worst} ms against a median p50 of ${Math.round(median(clients.map((client) => client.trade_p50_ms ?? 0)) * 1000) / 1000} ms (the failover section above times what a leader kill alone costs the trades in flight). A follower crash needs no election (${rounds.filter((round) => round.was === 'follower').every((round) => round.new_epochs === 0) ? 'no new epoch in any follower round' : '**a follower round moved the epoch**'}): the leader commits with the majority it still has.`,
  );
  lines.push(
    `**Can they notice in the final order checking phase?** ${finalCheck === 0 ? `No: in every round, every order the clients placed read back exactly as sent (${placed} orders, 0 failures), the ones placed while a replica was down or catching up included` : `**Yes: ${finalCheck} orders did not read back as placed**`}. ${clients.every((client) => client.exit_code === 0) ? 'Every client exited 0.' : `**Client exit codes: ${clients.map((client) => client.exit_code).join(', ')}.**`}`,
  );
  lines.push(
    `**Do all replicas end up with the same database file?** ${identicalRounds === rounds.length ? `Yes, after every round: the three order logs were byte-identical and the catalog equal to what they imply (${files.orders} orders after the last round, one sha256 above)` : `**Not after every round**: identical and conserved after ${identicalRounds} of ${rounds.length}${files.problem === undefined ? '' : ` (${files.problem})`}`}. Each victim came back ${Math.min(...missed)}–${Math.max(...missed)} orders behind and caught up in ${Math.min(...catchUp)}–${Math.max(...catchUp)} ms while the clients kept trading: it keeps its own log, asks the leader for what it lacks, and only then counts toward a majority again.`,
  );
  return lines;
}
