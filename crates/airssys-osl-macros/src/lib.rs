//! # airssys-osl-macros
//!
//! `#[executor]`: put it on an `impl` block whose methods are named after airssys-osl
//! operations, and it implements `airssys_osl::Execute<Op>` for each of them. Each method must
//! be `async`, take `&self`, the operation by value and `&airssys_osl::Context`, and return
//! `Result<Op::Output, airssys_osl::OslError>`:
//!
//! ```ignore
//! #[airssys_osl::executor]
//! impl MyExecutor {
//!     async fn file_read(&self, op: FileRead, ctx: &Context) -> Result<Vec<u8>, OslError> {
//!         /* ... */
//!     }
//! }
//! ```
//!
//! Misuse is a compile error that says what to change: a method that is not `async`, a receiver
//! other than `&self`, parameters other than `(op: Operation, ctx: &Context)`, an operation
//! implemented twice, or a method name that is no operation (helpers go in another `impl`).

#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::quote;
use syn::spanned::Spanned;
use syn::{FnArg, ImplItem, ItemImpl, Type, parse_macro_input};

/// Method names and the operation type each one executes.
const OPERATIONS: &[(&str, &str)] = &[
    ("file_read", "FileRead"),
    ("file_write", "FileWrite"),
    ("file_append", "FileAppend"),
    ("file_delete", "FileDelete"),
    ("dir_create", "DirCreate"),
    ("dir_list", "DirList"),
    ("file_metadata", "FileMetadata"),
    ("file_rename", "FileRename"),
    ("process_spawn", "ProcessSpawn"),
    ("process_wait", "ProcessWait"),
    ("process_kill", "ProcessKill"),
    ("process_signal", "ProcessSignal"),
    ("tcp_connect", "TcpConnect"),
    ("tcp_listen", "TcpListen"),
    ("udp_bind", "UdpBind"),
    ("unix_connect", "UnixConnect"),
];

/// Implement `airssys_osl::Execute<Op>` for every operation method of an `impl` block.
#[proc_macro_attribute]
pub fn executor(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        let attr = proc_macro2::TokenStream::from(attr);
        return syn::Error::new(attr.span(), "#[executor] takes no arguments")
            .to_compile_error()
            .into();
    }
    let input = parse_macro_input!(item as ItemImpl);
    match expand(&input) {
        Ok(impls) => quote!(#input #(#impls)*).into(),
        Err(e) => {
            let e = e.to_compile_error();
            quote!(#input #e).into()
        }
    }
}

fn expand(input: &ItemImpl) -> syn::Result<Vec<proc_macro2::TokenStream>> {
    if let Some((_, path, _)) = &input.trait_ {
        return Err(syn::Error::new(
            path.span(),
            "#[executor] goes on an inherent impl block (`impl MyExecutor { .. }`), not a trait impl",
        ));
    }
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    let mut seen: Vec<(String, Span)> = Vec::new();
    let mut impls = Vec::new();
    let self_ty = &input.self_ty;
    let (impl_generics, _, where_clause) = input.generics.split_for_impl();
    for item in &input.items {
        let ImplItem::Fn(method) = item else { continue };
        let sig = &method.sig;
        let name = sig.ident.to_string();
        let Some((_, op)) = OPERATIONS.iter().find(|(m, _)| *m == name) else {
            let names: Vec<&str> = OPERATIONS.iter().map(|(m, _)| *m).collect();
            push(syn::Error::new(
                sig.ident.span(),
                format!(
                    "`{name}` is not an operation; an #[executor] impl holds only operation methods \
                     (put helpers in another impl block). Operations: {}",
                    names.join(", ")
                ),
            ));
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
            let mut e = syn::Error::new(sig.ident.span(), format!("`{name}` is implemented twice"));
            e.combine(syn::Error::new(*first, "first implemented here"));
            push(e);
            continue;
        }
        seen.push((name.clone(), sig.ident.span()));
        if sig.asyncness.is_none() {
            push(syn::Error::new(sig.fn_token.span(), format!("`{name}` must be an `async fn`")));
            continue;
        }
        if let Err(e) = check_inputs(sig, op) {
            push(e);
            continue;
        }
        let op_ident = syn::Ident::new(op, Span::call_site());
        let method_ident = &sig.ident;
        impls.push(quote! {
            impl #impl_generics ::airssys_osl::Execute<::airssys_osl::ops::#op_ident> for #self_ty #where_clause {
                fn execute(
                    &self,
                    op: ::airssys_osl::ops::#op_ident,
                    ctx: &::airssys_osl::Context,
                ) -> impl ::core::future::Future<
                    Output = ::core::result::Result<
                        <::airssys_osl::ops::#op_ident as ::airssys_osl::Operation>::Output,
                        ::airssys_osl::OslError,
                    >,
                > + ::core::marker::Send {
                    <#self_ty>::#method_ident(self, op, ctx)
                }
            }
        });
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(impls),
    }
}

fn check_inputs(sig: &syn::Signature, op: &str) -> syn::Result<()> {
    let name = &sig.ident;
    let expected = format!("expected `async fn {name}(&self, op: {op}, ctx: &Context)`");
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        Some(FnArg::Receiver(r)) => {
            return Err(syn::Error::new(
                r.span(),
                format!("`{name}` must take `&self` (executors are shared): {expected}"),
            ));
        }
        _ => {
            return Err(syn::Error::new(
                sig.inputs.span().join(name.span()).unwrap_or_else(|| name.span()),
                format!("`{name}` must take `&self` first: {expected}"),
            ));
        }
    }
    let Some(FnArg::Typed(op_arg)) = inputs.next() else {
        return Err(syn::Error::new(
            name.span(),
            format!("`{name}` is missing its operation: {expected}"),
        ));
    };
    if last_segment(&op_arg.ty).as_deref() != Some(op) {
        return Err(syn::Error::new(
            op_arg.ty.span(),
            format!("the operation of `{name}` is `{op}`: {expected}"),
        ));
    }
    let Some(FnArg::Typed(ctx_arg)) = inputs.next() else {
        return Err(syn::Error::new(
            name.span(),
            format!("`{name}` is missing its context: {expected}"),
        ));
    };
    let is_ctx_ref = matches!(&*ctx_arg.ty, Type::Reference(r)
        if r.mutability.is_none() && last_segment(&r.elem).as_deref() == Some("Context"));
    if !is_ctx_ref {
        return Err(syn::Error::new(
            ctx_arg.ty.span(),
            format!("the context must be `&Context`: {expected}"),
        ));
    }
    if let Some(extra) = inputs.next() {
        return Err(syn::Error::new(extra.span(), format!("too many parameters: {expected}")));
    }
    Ok(())
}

fn last_segment(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}
