// A writer for the "newc" cpio format, the one the kernel unpacks as an initramfs.
// Written here rather than piped through cpio(1) so no staging tree is needed.

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

interface Entry {
  name: string;
  mode: number;
  data: Buffer;
  rdev?: [number, number];
}

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function header(entry: Entry, ino: number): Buffer {
  const name = `${entry.name}\0`;
  const fields = [
    ino,
    entry.mode,
    0, // uid
    0, // gid
    entry.mode & S_IFDIR ? 2 : 1, // nlink
    0, // mtime: reproducible archives
    entry.data.length,
    0, // devmajor
    0, // devminor
    entry.rdev?.[0] ?? 0,
    entry.rdev?.[1] ?? 0,
    Buffer.byteLength(name),
    0, // check
  ];
  const text = `070701${fields.map((field) => field.toString(16).toUpperCase().padStart(8, '0')).join('')}${name}`;
  return Buffer.concat([Buffer.from(text, 'latin1'), pad4(text.length)]);
}

export class NewcArchive {
  private readonly entries: Entry[] = [];
  private readonly names = new Set<string>();

  /** Adds a directory and any missing parents ('a/b/c' adds a, a/b, a/b/c). */
  directory(name: string, mode = 0o755): this {
    const parts = name.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!this.names.has(dir)) this.add({ name: dir, mode: S_IFDIR | mode, data: Buffer.alloc(0) });
    }
    return this;
  }

  file(name: string, data: Buffer, mode = 0o644): this {
    this.parentOf(name);
    return this.add({ name, mode: S_IFREG | mode, data });
  }

  symlink(name: string, target: string): this {
    this.parentOf(name);
    return this.add({ name, mode: S_IFLNK | 0o777, data: Buffer.from(target) });
  }

  characterDevice(name: string, major: number, minor: number, mode = 0o600): this {
    this.parentOf(name);
    return this.add({ name, mode: S_IFCHR | mode, data: Buffer.alloc(0), rdev: [major, minor] });
  }

  /** The archive's bytes, with the trailer that ends it. */
  toBuffer(): Buffer {
    const parts: Buffer[] = [];
    const all = [...this.entries, { name: 'TRAILER!!!', mode: 0, data: Buffer.alloc(0) }];
    all.forEach((entry, index) => parts.push(header(entry, index + 1), entry.data, pad4(entry.data.length)));
    return Buffer.concat(parts);
  }

  private parentOf(name: string): void {
    const slash = name.lastIndexOf('/');
    if (slash > 0) this.directory(name.slice(0, slash));
  }

  private add(entry: Entry): this {
    if (this.names.has(entry.name)) throw new Error(`duplicate archive entry ${entry.name}`);
    this.names.add(entry.name);
    this.entries.push(entry);
    return this;
  }
}
