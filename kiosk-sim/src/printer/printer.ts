import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KonbiniError } from '@konbini/protocol';

export interface PrintResult {
  copiesPrinted: number;
  /** Sheets that came out, as files in the tray. */
  sheets: string[];
}

export interface Printer {
  /** Print the whole job; `copies` is how many copies the document holds. */
  print(issuanceId: string, pdf: Buffer, copies: number): Promise<PrintResult>;
  /**
   * After a restart: did this issuance's own job come out (the kiosk died while it
   * printed)? The copies printed (0: it did not), or null when the printer cannot
   * tell. Leftovers of the job on the kiosk (its spool) are wiped either way.
   */
  recover?(issuanceId: string, copies: number): Promise<number | null>;
}

const ISSUANCE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A simulated printer: the job goes through a spool file in the kiosk's private
 * directory and comes out in the output tray (the paper in the resident's hand).
 * Every name is derived from the issuance id, never from time or a counter, so one
 * job can never be taken for another (DESIGN §5 invariant 1).
 */
export class TrayPrinter implements Printer {
  constructor(
    private readonly spoolDir: string,
    private readonly trayDir: string,
    private readonly fault?: () => 'jam' | 'out-of-paper' | null,
  ) {}

  recover(issuanceId: string, copies: number): Promise<number> {
    return trayRecover(this.spoolDir, this.trayDir, issuanceId, copies);
  }

  async print(issuanceId: string, pdf: Buffer, copies: number): Promise<PrintResult> {
    if (!ISSUANCE_ID.test(issuanceId)) throw new KonbiniError('INTERNAL', { reason: 'bad-issuance-id' });
    await mkdir(this.spoolDir, { recursive: true, mode: 0o700 });
    await mkdir(this.trayDir, { recursive: true });
    const spool = join(this.spoolDir, `${issuanceId}.job`);
    try {
      await writeFileSynced(spool, pdf, 0o600);
      const fault = this.fault?.() ?? null;
      if (fault === 'jam') throw new KonbiniError('PRINTER_JAM', { issuanceId });
      if (fault === 'out-of-paper') throw new KonbiniError('PRINTER_OUT_OF_PAPER', { issuanceId });
      // The city renders every copy into the one document (each copy starts on a
      // new page and names itself "k/n"), so the job is printed once, whole: the
      // tray holds one file per issuance, named by the issuance id only.
      const sheet = join(this.trayDir, `${issuanceId}.pdf`);
      const partial = `${sheet}.partial`;
      await writeFileSynced(partial, pdf, 0o644);
      await rename(partial, sheet);
      const sheets = [sheet];
      return { copiesPrinted: copies, sheets };
    } finally {
      await wipeFile(spool);
    }
  }
}

/** The tray printer's answer for one issuance's job after a restart (see Printer.recover). */
async function trayRecover(spoolDir: string, trayDir: string, issuanceId: string, copies: number): Promise<number> {
  if (!ISSUANCE_ID.test(issuanceId)) throw new KonbiniError('INTERNAL', { reason: 'bad-issuance-id' });
  // A kill -9 mid-job leaves the spool file: the document's bytes must not stay (DESIGN §5 invariant 5).
  await wipeFile(join(spoolDir, `${issuanceId}.job`));
  // The sheets are in the tray only once the whole job was renamed there; a partial never came out.
  try {
    await stat(join(trayDir, `${issuanceId}.pdf`));
    return copies;
  } catch {
    await wipeFile(join(trayDir, `${issuanceId}.pdf.partial`));
    return 0;
  }
}

async function writeFileSynced(path: string, data: Buffer, mode: number): Promise<void> {
  const fh = await open(path, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Overwrite a file with zeros, flush, then unlink it. Missing files are fine. */
export async function wipeFile(path: string): Promise<void> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return;
  }
  const fh = await open(path, 'r+');
  try {
    const zeros = Buffer.alloc(Math.min(size, 1 << 20));
    for (let at = 0; at < size; at += zeros.length) {
      await fh.write(zeros, 0, Math.min(zeros.length, size - at), at);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  await unlink(path);
}
