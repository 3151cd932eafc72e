// The page's files as the server hands them out: embedded by build.mjs into the bundle (esbuild's
// `define` of BAZAAR_PAGE_FILES), or read from the source tree when run under tsx.
import { type PageFile, readPageFiles } from './page/files.mjs';

declare const BAZAAR_PAGE_FILES: Record<string, PageFile> | undefined;

export function pageFiles(): Record<string, PageFile> {
  return typeof BAZAAR_PAGE_FILES === 'undefined' ? readPageFiles() : BAZAAR_PAGE_FILES;
}
