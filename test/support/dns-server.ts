import type { AddressInfo } from 'node:net';
import dns2 from 'dns2';

const { Packet } = dns2;

/** A real DNS server on 127.0.0.1 (UDP, an ephemeral port) answering TXT queries from a table the test edits. */
export interface TestDnsServer {
  /** `127.0.0.1:<port>`, as ALLOWANCE_DNS_SERVERS and node:dns `setServers` take it. */
  address: string;
  /** TXT records by name (lower case); a name absent from the table is NXDOMAIN, one with [] has no TXT. */
  txt: Map<string, string[][]>;
  /** Names asked, in order. */
  queries: string[];
  /** When true, queries get SERVFAIL. */
  failing: boolean;
  close(): Promise<void>;
}

/** Starts the server; the test closes it. */
export async function startDnsServer(): Promise<TestDnsServer> {
  const txt = new Map<string, string[][]>();
  const queries: string[] = [];
  const state = { failing: false };
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const [question] = request.questions;
      const name = (question?.name ?? '').toLowerCase();
      queries.push(name);
      if (state.failing) {
        response.header.rcode = Packet.RCODE.SERVFAIL;
        send(response);
        return;
      }
      const records = txt.get(name);
      if (records === undefined) {
        response.header.rcode = Packet.RCODE.NXDOMAIN;
      } else if (question?.type === Packet.TYPE.TXT) {
        for (const strings of records) {
          response.answers.push({
            name: question.name,
            type: Packet.TYPE.TXT,
            class: Packet.CLASS.IN,
            ttl: 1,
            data: strings.length === 1 ? strings[0] : strings,
          } as never);
        }
      }
      send(response);
    },
  });
  const listening = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  const udp = (listening as { udp?: AddressInfo }).udp;
  const port = udp?.port;
  if (!port) throw new Error('the test DNS server did not listen');
  return {
    address: `127.0.0.1:${port}`,
    txt,
    queries,
    get failing() {
      return state.failing;
    },
    set failing(v: boolean) {
      state.failing = v;
    },
    close: () => server.close(),
  };
}
