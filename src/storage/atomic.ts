// A small file replaced whole, atomically, as a crash may find it: write a temp file beside it, fsync
// it, rename it over the old one, fsync the folder. A reader sees the old contents or the new, never
// a mix; a crash before the folder's fsync may leave the old.
import { mkdir, open, rename } from 'node:fs/promises';
import path from 'node:path';

export async function replaceFile(file: string, text: string): Promise<void> {
  const directory = path.dirname(file);
  await mkdir(directory, { recursive: true });
  const temp = `${file}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  const folder = await open(directory, 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}
