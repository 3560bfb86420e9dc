namespace Dropbox.SyncClient.Tests.PlannerModel;

/// <summary>How the model server refuses a request (the real error kinds the executor tells apart).</summary>
internal enum ModelRefusal
{
    NotFound,
    Conflict,
    AlreadyExists,
}
