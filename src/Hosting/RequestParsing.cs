using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Dropbox.Hosting;

/// <summary>Makes a request that does not parse (bad wire format, invalid UTF-8 in a string) INVALID_ARGUMENT on a node.</summary>
public static class RequestParsing
{
    /// <summary>
    /// Binds every gRPC service of this host through <see cref="SafeParsingServiceMethodProvider{TService}"/> instead of
    /// grpc-dotnet's default provider. Call after <c>AddGrpc</c>.
    /// </summary>
    public static IServiceCollection AddSafeRequestParsing(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        var defaults = services
            .Where(d => d.ServiceType == typeof(IServiceMethodProvider<>) && d.ImplementationType is { Name: "BinderServiceMethodProvider`1" })
            .ToList();
        if (defaults.Count == 0)
        {
            // Both providers would bind every method twice (ambiguous routes); fail at start-up instead.
            throw new InvalidOperationException("grpc-dotnet's default service method provider was not found: call AddSafeRequestParsing after AddGrpc.");
        }

        foreach (var descriptor in defaults)
        {
            services.Remove(descriptor);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton(typeof(IServiceMethodProvider<>), typeof(SafeParsingServiceMethodProvider<>)));
        return services;
    }

    /// <summary>The same method with a request deserializer that reports a malformed message as INVALID_ARGUMENT.</summary>
    public static Method<TRequest, TResponse> Guard<TRequest, TResponse>(Method<TRequest, TResponse> method)
        where TRequest : class
        where TResponse : class
    {
        ArgumentNullException.ThrowIfNull(method);
        var inner = method.RequestMarshaller;
        var marshaller = Marshallers.Create(inner.ContextualSerializer, context =>
        {
            try
            {
                return inner.ContextualDeserializer(context);
            }
            catch (Exception ex) when (ex is not (RpcException or OperationCanceledException or OutOfMemoryException))
            {
                // Google.Protobuf throws InvalidProtocolBufferException for bad wire format, and a DecoderFallbackException
                // (an ArgumentException) for invalid UTF-8 in a string field: both are the caller's malformed input.
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"The request is not a valid {typeof(TRequest).Name}: {ex.Message}"));
            }
        });
        return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, marshaller, method.ResponseMarshaller);
    }
}
