namespace Dropbox.SyncClient.Tests.Simulation;

/// <summary>What the simulated network does to one call (a request lost is thrown before the call, so it is not here).</summary>
internal enum SimFault
{
    None,

    /// <summary>The server acted; the device gets a timeout instead of the answer.</summary>
    AnswerLost,

    /// <summary>The request reaches the server only after another device synced.</summary>
    RequestLate,

    /// <summary>The server acted; the answer arrives only after another device synced.</summary>
    AnswerLate,

    /// <summary>The user changes this device's folder while the call is out.</summary>
    EditMeanwhile,
}
