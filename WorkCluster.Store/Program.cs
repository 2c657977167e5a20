using System.Runtime.InteropServices;
using Garnet;

// Runs Garnet with the options it is given (see the AppHost's AddGarnetStore) until SIGTERM or Ctrl+C. Garnet reports
// a bad option by printing it and returning: exit 2 then, so that whoever started this sees the failure.
var stop = new CancellationTokenSource(); // not disposed: a signal may come after Main returns
// SIGTERM (how the orchestrator stops it) and Ctrl+C end the wait below, so that the server is disposed (its
// append-only file flushed) before the process exits.
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; stop.Cancel(); });
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => { context.Cancel = true; stop.Cancel(); });

GarnetServer server;
try
{
    server = new GarnetServer(args);
}
catch (Exception e)
{
    Console.Error.WriteLine($"The store did not start: {e.Message}");
    return 2;
}
using (server)
{
    server.Start();
    Console.WriteLine("Garnet is serving.");
    try
    {
        await Task.Delay(Timeout.Infinite, stop.Token);
    }
    catch (OperationCanceledException)
    {
        // Stopping.
    }
}
return 0;
