export interface PageFile {
  readonly type: string;
  readonly body: string;
}
export function readPageFiles(): Record<string, PageFile>;
