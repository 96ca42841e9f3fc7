// The addon inside a Bun single-file executable (`bun build --compile`). Bun embeds a .node file
// only when a require() names it with a literal path, and node-gyp-build computes its path at
// run time: it would then look for the addon where the package was on the build machine. So
// under Bun every place the addon can be is named here literally (relative to
// dist/cjs/runtime/), in node-gyp-build's order: a local build, then the prebuilt binaries.
// Bun embeds each that exists when it compiles, and extracts the one loaded at run time.
// Outside a compiled executable the same requires load the files from the package.

/** The addon under Bun, or null (not Bun, or none of the files is there). */
export function requireAddonLiterally(): unknown {
  if (!(process.versions as Record<string, string | undefined>).bun) return null;
  // One try block each: Bun's bundler lets a literal require() of a missing file be only inside one.
  try {
    return require('../../../build/Release/procguard.node');
  } catch {
    // no local build: the prebuilt binaries
  }
  try {
    return require('../../../prebuilds/linux-x64/procguard.glibc.node');
  } catch {
    // not there, or not this architecture
  }
  try {
    return require('../../../prebuilds/linux-arm64/procguard.glibc.node');
  } catch {
    // not there, or not this architecture
  }
  return null;
}
