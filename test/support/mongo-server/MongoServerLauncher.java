import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Test-only MongoDB wire-protocol server for the MongoDB adapter tests.
 *
 * <pre>
 * java -jar .tools/mongo-server/mongo-server.jar [--host 127.0.0.1] [--port 27017]
 *      [--data-dir DIR] [--exit-on-stdin-eof]
 * </pre>
 *
 * Without --data-dir the data lives in memory only; with it, it is kept in DIR/mongo.mv and
 * survives a restart (writes of the last second before a SIGKILL may be lost; SIGTERM flushes).
 * Prints "listening PORT" on stdout once bound.
 */
public final class MongoServerLauncher {
    /** The Node driver 7.x refuses servers below wire version 9 (MongoDB 4.4). */
    private static final MongoVersion REPORTED_VERSION = new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(4, 4, 0);
        }

        @Override
        public int getWireVersion() {
            return 9;
        }
    };

    private MongoServerLauncher() {}

    public static void main(String[] args) throws Exception {
        String host = "127.0.0.1";
        int port = 27017;
        String dataDir = null;
        boolean exitOnStdinEof = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--host" -> host = value(args, ++i);
                case "--port" -> port = Integer.parseInt(value(args, ++i));
                case "--data-dir" -> dataDir = value(args, ++i);
                case "--exit-on-stdin-eof" -> exitOnStdinEof = true;
                default -> {
                    System.err.println("unknown argument: " + args[i]);
                    System.exit(2);
                }
            }
        }

        MongoBackend backend;
        if (dataDir != null) {
            Path dir = Path.of(dataDir);
            Files.createDirectories(dir);
            backend = new H2Backend(dir.resolve("mongo.mv").toString());
        } else {
            backend = new MemoryBackend();
        }
        backend.version(REPORTED_VERSION);

        MongoServer server = new MongoServer(backend);
        server.bind(host, port);
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdown, "mongo-server-shutdown"));
        System.out.println("listening " + server.getLocalAddress().getPort());
        System.out.flush();

        if (exitOnStdinEof) {
            // The parent process holds our stdin open; when it dies, stop too.
            InputStream in = System.in;
            try {
                while (in.read() != -1) {
                    // ignore input
                }
            } catch (IOException ignored) {
                // treat as EOF
            }
            System.exit(0);
        }
        Thread.currentThread().join();
    }

    private static String value(String[] args, int i) {
        if (i >= args.length) {
            System.err.println("missing value for " + args[i - 1]);
            System.exit(2);
        }
        return args[i];
    }
}
