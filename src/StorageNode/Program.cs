// Placeholder until the StorageNode issue lands: the host is wired in Program.cs only.
Console.Error.WriteLine("StorageNode: not implemented yet.");
return 1;
