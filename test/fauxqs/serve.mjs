// Runs fauxqs, the SQS emulator the Go tests use (internal/fauxqstest), on a
// loopback port and prints its URL on the first line of stdout. fauxqs's own
// CLI always binds 0.0.0.0, hence this launcher. It exits when stdin closes,
// so a test binary that is killed leaves no server behind.
import { buildApp } from "fauxqs";

const app = buildApp({
  logger: process.env.FAUXQS_LOGGER === "true",
  defaultRegion: process.env.FAUXQS_DEFAULT_REGION ?? "us-east-1",
});
const url = await app.listen({
  host: process.env.FAUXQS_HOST ?? "127.0.0.1",
  port: Number(process.env.FAUXQS_PORT ?? 0),
});
process.stdout.write(url + "\n");

const stop = () => app.close().finally(() => process.exit(0));
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
