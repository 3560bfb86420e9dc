namespace Dropbox.SyncClient.Tests.PlannerModel;

/// <summary>An invariant of the planner's property tests did not hold; the message holds the case and its trace.</summary>
internal sealed class PlannerPropertyException(string message) : Exception(message);
