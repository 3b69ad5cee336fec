// DynamoDB Local bound to one address (loopback by default) instead of every interface.
//
// DynamoDB Local has no -host option: its DynamoDBProxyServer builds a Jetty Server(port), whose
// connector listens on all interfaces. This launcher (run in Java's source-file mode, with the
// DynamoDB Local jar on the class path) builds the server from the usual command-line options,
// sets the host of every connector to -Dharness.host (default 127.0.0.1) and only then starts it.
// Telemetry stays off (the harness always passes -disableTelemetry).
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class LoopbackDynamoDB {
    public static void main(String[] args) throws Exception {
        String host = System.getProperty("harness.host", "127.0.0.1");
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        Connector[] connectors = server.getConnectors();
        if (connectors.length == 0) {
            throw new IllegalStateException("DynamoDB Local built a server without a connector");
        }
        for (Connector connector : connectors) {
            if (!(connector instanceof ServerConnector)) {
                throw new IllegalStateException("unexpected connector " + connector.getClass());
            }
            ((ServerConnector) connector).setHost(host);
        }
        proxy.start();
        System.out.println("DynamoDB Local listening on " + host);
        proxy.join();
    }
}
