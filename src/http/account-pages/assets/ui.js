// Messages (one aria-live region per page), busy forms, and the wording of API errors.

export const $ = (selector) => document.querySelector(selector);

export function say(text, kind = 'info') {
  const box = $('#message');
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = !text;
}

export function describeError(error) {
  switch (error.code) {
    case 'RATE_LIMITED':
      return `Too many attempts. Try again${error.retryAfter ? ` in ${error.retryAfter} seconds` : ' later'}.`;
    case 'TOKEN_INVALID':
      return 'This link or code is not valid: it was used already, replaced, or is for another address. Ask for a new one.';
    case 'TOKEN_EXPIRED':
      return 'This link or code has expired. Ask for a new one.';
    case 'LOCKED':
      return 'This account is locked. Contact an administrator.';
    case 'BAD_USER_INPUT':
    case 'NETWORK':
    case 'CONFLICT':
      return error.message;
    default:
      return error.message || 'Something went wrong. Try again.';
  }
}

/** Runs `handler(formData, submitter)` on submit: buttons disabled meanwhile, errors shown, focus kept. */
export function onSubmit(form, handler) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const focused = document.activeElement;
    const buttons = [...form.querySelectorAll('button')];
    buttons.forEach((b) => (b.disabled = true));
    form.setAttribute('aria-busy', 'true');
    try {
      await handler(new FormData(form), event.submitter);
    } catch (error) {
      say(describeError(error), 'error');
    } finally {
      buttons.forEach((b) => (b.disabled = false));
      form.removeAttribute('aria-busy');
      // A disabled button loses the focus; give it back so keyboard users stay where they were.
      if (document.activeElement === document.body && focused instanceof HTMLElement) focused.focus();
    }
  });
}

/** Removes the secret (token, code) of a mailed link from the address bar and the history. */
export function forgetQuery() {
  history.replaceState(null, '', location.pathname);
}
