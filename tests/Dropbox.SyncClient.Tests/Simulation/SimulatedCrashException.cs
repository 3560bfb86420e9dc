namespace Dropbox.SyncClient.Tests.Simulation;

/// <summary>Thrown into a device's engine once it has "crashed": whatever it does afterwards is thrown away.</summary>
internal sealed class SimulatedCrashException(string message) : Exception(message);
