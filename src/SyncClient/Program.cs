// Placeholder until the SyncClient issue lands.
Console.Error.WriteLine("SyncClient: not implemented yet.");
return 1;
