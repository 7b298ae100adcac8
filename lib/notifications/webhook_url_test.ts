import { assertEquals } from "@std/assert";
import { webhookUrlProblem } from "./webhook_url.ts";

Deno.test("webhookUrlProblem() accepts HTTPS to public hosts", () => {
  for (
    const url of [
      "https://hooks.example.com/daily",
      "https://8.8.8.8/x",
      "https://[2001:4860:4860::8888]/x",
      "https://example.com:8443/a?b=c",
    ]
  ) {
    assertEquals(webhookUrlProblem(url), null, url);
  }
});

Deno.test("webhookUrlProblem() refuses plain HTTP, credentials and every internal address", () => {
  const refused: Array<[string, string]> = [
    ["http://hooks.example.com/x", "https"],
    ["https://user:pw@hooks.example.com/x", "credentials"],
    ["https://169.254.169.254/computeMetadata/v1/", "internal"],
    ["https://127.0.0.1:8080/admin", "internal"],
    ["https://2130706433/", "internal"], // 127.0.0.1 as one number
    ["https://10.0.0.5/", "internal"],
    ["https://172.16.3.4/", "internal"],
    ["https://192.168.1.1/", "internal"],
    ["https://100.64.0.1/", "internal"],
    ["https://0.0.0.0/", "internal"],
    ["https://[::1]/", "internal"],
    ["https://[fd00::1]/", "internal"],
    ["https://[fe80::1]/", "internal"],
    ["https://[::ffff:10.0.0.1]/", "internal"],
    ["https://localhost/", "public host"],
    ["https://api.localhost/", "public host"],
    ["https://metadata.google.internal/", "public host"],
    ["https://printer.local/", "public host"],
    ["https://intranet/", "public host"],
    ["not a url", "absolute URL"],
  ];
  for (const [url, reason] of refused) {
    const problem = webhookUrlProblem(url);
    assertEquals(problem?.includes(reason), true, `${url}: ${problem}`);
  }
});
