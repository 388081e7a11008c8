// Starts AWS's DynamoDB Local bound to 127.0.0.1 only. DynamoDB Local has no host flag and
// listens on every interface; this launcher builds the server from the usual command-line
// arguments, sets the host on its Jetty connectors, then starts it.
// Run as a single-file source program: java -cp <jar and libs> LoopbackDynamoDBLocal.java <args>

import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

public class LoopbackDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        int bound = 0;
        for (Field field : DynamoDBProxyServer.class.getDeclaredFields()) {
            if (field.getType() != Server.class) continue;
            field.setAccessible(true);
            for (Connector connector : ((Server) field.get(proxy)).getConnectors()) {
                if (connector instanceof ServerConnector) {
                    ((ServerConnector) connector).setHost("127.0.0.1");
                    bound++;
                }
            }
        }
        if (bound == 0) {
            throw new IllegalStateException("no Jetty connector found: refusing to listen on all interfaces");
        }
        proxy.start();
        System.out.println("DynamoDB Local listening on 127.0.0.1");
    }
}
