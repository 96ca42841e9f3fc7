// vitest setupFile: runs in each test process before the test file is imported, so procguard loads
// with management off and no overrides, whatever the environment the suite was started from.
// Tests that need management on enable it explicitly (configure) or run an agent subprocess.
for (const name of Object.keys(process.env)) {
  if (name.startsWith('CODER_PROC_') || name.startsWith('MYAPP_PROC_')) delete process.env[name];
}
