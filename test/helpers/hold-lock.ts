// A process that takes the lock of the file named by its argument, says so, and holds it until it is
// killed: the other side of the lock tests.
import { lockFile } from '../../src/storage/lock.ts';

await lockFile(process.argv[2]!, () => process.exit(3), 0);
process.stdout.write('locked\n');
setInterval(() => undefined, 60_000);
