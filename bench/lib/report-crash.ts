// The evaluation's crash-experiment section: the handout's three questions answered from the figures.
import { type CrashExperiment, CRASH_CLIENTS, CRASH_P, MISSED_ORDERS_MIN } from './crash-experiment.ts';
import { table } from './markdown.ts';

export function crashSection(experiment: CrashExperiment): string[] {
  const { rounds, clients, files } = experiment;
  const out: string[] = ['## The crash experiment (the handout\'s)', ''];
  out.push(
    `${CRASH_CLIENTS} \`bazaar client\` processes (one session each, p = ${CRASH_P}) trade for the whole run. Each round kills a replica with \`kill -9\`, chosen by a schedule seeded with ${experiment.seed}: the leader in half the rounds, a follower (one of the other two at random) in the rest, in a shuffled order. The victim stays down until at least ${MISSED_ORDERS_MIN} orders have committed without it, then \`bazaar admin recover\` starts it while the clients keep trading, and its catch-up is timed until it holds every order the leader had when it came back. After the last round the clients get SIGINT, as a user's Ctrl-C, and run their final phase: each fetches every order it placed and compares it with what it sent.`,
    '',
  );
  out.push(
    table(
      ['round', 'killed', 'was', 'down ms', 'orders missed', 'catch-up ms (under load)', 'new epochs', 'requests answered', 'of them 5xx'],
      rounds.map((round) => [String(round.round), `replica ${round.victim}`, round.was, String(round.down_ms), String(round.missed_orders), String(round.catch_up_ms), String(round.new_epochs), String(round.frontend_requests), String(round.frontend_5xx)]),
    ),
    '',
  );
  out.push('"Requests answered" are the frontend\'s own count (its `/metrics`) of lookups, trades and order queries it answered from the kill to the end of the catch-up; a 5xx there is what a client would have seen and retried. The clients\' own view, over the whole run:', '');
  out.push(
    table(
      ['client (seed)', 'exit code', 'orders placed', 'errors while trading', 'failures in the final check', 'retries', 'trade p50 / max ms'],
      clients.map((client) => [String(client.seed), String(client.exit_code), String(client.orders_placed), String(client.errors_while_trading), String(client.final_check_failures), String(client.retries), `${client.trade_p50_ms ?? '–'} / ${client.trade_max_ms ?? '–'}`]),
    ),
    '',
  );
  out.push('Each replica\'s order log (its database file) after the run, sha256:', '');
  out.push(table(['replica', 'sha256'], Object.entries(files.hashes).map(([id, hash]) => [`replica ${id}`, `\`${hash}\``])), '');
  out.push(...answers(experiment).map((line) => `- ${line}`), '');
  return out;
}

/** The handout's questions, answered from this run's figures (and saying so when they went wrong). */
export function answers(experiment: CrashExperiment): string[] {
  const { rounds, clients, files } = experiment;
  const leaders = rounds.filter((round) => round.was === 'leader').length;
  const whileTrading = clients.reduce((sum, client) => sum + client.errors_while_trading, 0);
  const finalCheck = clients.reduce((sum, client) => sum + client.final_check_failures, 0);
  const placed = clients.reduce((sum, client) => sum + client.orders_placed, 0);
  const retries = clients.reduce((sum, client) => sum + client.retries, 0);
  const worst = Math.max(...clients.map((client) => client.trade_max_ms ?? 0));
  const missed = rounds.map((round) => round.missed_orders);
  const catchUp = rounds.map((round) => round.catch_up_ms);
  const lines: string[] = [];
  lines.push(
    `**Can the clients notice the failures while they trade?** ${whileTrading === 0 ? 'Not as errors' : `**Yes: ${whileTrading} requests failed**`}: over ${rounds.length} crashes (${leaders} of the leader, ${rounds.length - leaders} of a follower) the ${clients.length} clients placed ${placed} orders with ${whileTrading} failed requests${retries === 0 ? ' and no retries' : ` and ${retries} retried requests`}. What they can see is time: the slowest trade of the run took ${worst} ms against a median p50 of ${clients.map((client) => client.trade_p50_ms ?? 0).sort((a, b) => a - b)[Math.floor(clients.length / 2)]} ms (the failover section above times what a leader kill alone costs the trades in flight). A follower crash needs no election (${rounds.filter((round) => round.was === 'follower').every((round) => round.new_epochs === 0) ? 'no new epoch in any follower round' : '**a follower round moved the epoch**'}): the leader commits with the majority it still has.`,
  );
  lines.push(
    `**Can they notice in the final order checking phase?** ${finalCheck === 0 ? `No: every one of the ${placed} orders the clients placed read back exactly as sent (0 failures), the ones placed while a replica was down or catching up included` : `**Yes: ${finalCheck} orders did not read back as placed**`}. ${clients.every((client) => client.exit_code === 0) ? 'Every client exited 0.' : `**Client exit codes: ${clients.map((client) => client.exit_code).join(', ')}.**`}`,
  );
  lines.push(
    `**Do all replicas end up with the same database file?** ${files.identical ? `Yes: the three order logs are byte-identical (one sha256 above), ${files.orders} orders` : `**No**: ${files.problem ?? 'the hashes differ'}`}${files.conserved ? ', and the catalog\'s stock equals what that log implies.' : `; the catalog **does not** match the log (${files.problem}).`} Each victim came back ${Math.min(...missed)}–${Math.max(...missed)} orders behind and caught up in ${Math.min(...catchUp)}–${Math.max(...catchUp)} ms while the clients kept trading: it keeps its own log, asks the leader for what it lacks, and only then counts toward a majority again.`,
  );
  return lines;
}
